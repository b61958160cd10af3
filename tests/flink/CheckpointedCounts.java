// The stream job of the Flink HA end-to-end test (tests/flink/test_flink_ha.py).
//
// A sequence 0, 1, 2, … (a checkpointed source) is throttled, keyed by value % KEYS and
// counted per key in keyed ValueState, with a checkpoint every second. Within one source
// split the values arrive in order, so when value v reaches its key's counter, exactly v / KEYS
// earlier values of that key have been counted. Any restore that does not bring the source
// position and the keyed state back from the same completed checkpoint (state lost, an older
// checkpoint, a newer position) breaks that equation, and the job prints STATE-MISMATCH.
// It prints OPEN when a task attempt starts and PROGRESS lines as it goes; the test reads them
// from the TaskManager's stdout.
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.connector.source.lib.NumberSequenceSource;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.util.Collector;

public class CheckpointedCounts {
    static final long KEYS = 16;

    public static void main(String[] args) throws Exception {
        long pauseMs = args.length > 0 ? Long.parseLong(args[0]) : 2;
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.setParallelism(1);
        env.enableCheckpointing(1000);
        env.fromSource(new NumberSequenceSource(0, Long.MAX_VALUE - 1), WatermarkStrategy.noWatermarks(), "sequence")
                .map(v -> {
                    Thread.sleep(pauseMs);
                    return v;
                })
                .keyBy(v -> v % KEYS)
                .process(new Counter())
                .sinkTo(new DiscardingSink<>());
        env.execute("zabkeeper-ha-e2e");
    }

    static class Counter extends KeyedProcessFunction<Long, Long, Long> {
        private transient ValueState<Long> count;

        @Override
        public void open(OpenContext ctx) {
            count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Long.class));
            System.out.println("OPEN attempt=" + getRuntimeContext().getTaskInfo().getAttemptNumber());
        }

        @Override
        public void processElement(Long v, Context ctx, Collector<Long> out) throws Exception {
            Long stored = count.value();
            long seen = stored == null ? 0 : stored;
            long expected = v / KEYS;
            if (seen != expected) {
                System.out.println("STATE-MISMATCH value=" + v + " key=" + (v % KEYS) + " counted=" + seen + " expected=" + expected);
            }
            count.update(seen + 1);
            if (v % (KEYS * 64) == 0) {
                System.out.println("PROGRESS value=" + v + " counted=" + (seen + 1));
            }
            out.collect(v);
        }
    }
}
