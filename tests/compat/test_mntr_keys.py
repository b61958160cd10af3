"""mntr's keys against Apache ZooKeeper 3.8's, side by side: every key we print, ZooKeeper
prints too; every key ZooKeeper prints that we do not is one of OMITTED below, grouped by why
(the README lists the same groups). A key ZooKeeper adds, or one we start or stop printing,
fails this test until the lists say so."""

import re

import zkservers
from compat_util import four_letter

# Metric names (without zk_ and the avg_/min_/max_/cnt_/sum_/p50_... of a summary).
OMITTED = {
    "the JVM's": {"jvm_pause_time_ms"},
    "stages of ZooKeeper's request-processor threads (prep, sync, commit and final "
    "processors, session queues), which our single pipeline does not have": {
        "close_session_prep_time", "commit_commit_proc_req_queued", "commit_process_time",
        "concurrent_request_processing_in_commit_processor",
        "learner_request_processor_queue_size", "local_write_committed_time_ms",
        "om_commit_process_time_ms", "om_proposal_process_time_ms",
        "outstanding_changes_queued", "outstanding_changes_removed",
        "pending_session_queue_size", "prep_process_time", "prep_processor_queue_size",
        "prep_processor_queue_time_ms", "prep_processor_request_queued",
        "propagation_latency", "proposal_ack_creation_latency", "proposal_latency",
        "proposal_process_time", "read_commit_proc_issued", "read_commit_proc_req_queued",
        "read_commitproc_time_ms", "read_final_proc_time_ms",
        "reads_after_write_in_session_queue", "reads_issued_from_session_queue",
        "request_commit_queued", "requests_in_session_queue",
        "requests_not_forwarded_to_commit_processor", "server_write_committed_time_ms",
        "session_queues_drained", "skip_learner_request_to_next_processor_count",
        "sync_process_time", "sync_processor_queue_and_flush_time_ms",
        "sync_processor_queue_flush_time_ms", "sync_processor_queue_size",
        "sync_processor_queue_time_ms", "sync_processor_request_queued",
        "time_waiting_empty_pool_in_commit_processor_read_ms",
        "write_batch_time_in_commit_processor", "write_commit_proc_issued",
        "write_commit_proc_req_queued", "write_commitproc_time_ms",
        "write_final_proc_time_ms",
    },
    "features we do not have (TLS, SASL quorum auth, Netty, txn digests, the response "
    "cache, the request throttler and connection token bucket, the dead-watcher cleaner, "
    "per-namespace write stats)": {
        "outstanding_tls_handshake", "tls_handshake_exceeded", "non_mtls_local_conn_count",
        "non_mtls_remote_conn_count", "netty_queued_buffer_capacity", "insecure_admin_count",
        "ensemble_auth_fail", "ensemble_auth_skip", "ensemble_auth_success",
        "digest_mismatches_count", "response_packet_cache_hits",
        "response_packet_cache_misses", "response_packet_get_children_cache_hits",
        "response_packet_get_children_cache_misses", "connection_drop_count",
        "connection_drop_probability", "connection_token_deficit",
        "request_throttle_queue_time_ms", "request_throttle_wait_count", "throttled_ops",
        "large_requests_rejected", "stale_requests", "stale_requests_dropped", "stale_replies",
        "add_dead_watcher_stall_time", "dead_watchers_cleaner_latency",
        "dead_watchers_cleared", "dead_watchers_queued", "<namespace>_read_per_namespace",
        "<namespace>_write_per_namespace",
    },
    "not tracked yet": {
        "cnxn_closed_without_zk_server_running", "connection_revalidate_count",
        "revalidate_count", "stale_sessions_expired", "unsuccessful_handshake",
        "unrecoverable_error_count", "watch_bytes", "node_changed_watch_count",
        "node_children_watch_count", "node_created_watch_count", "node_deleted_watch_count",
        "socket_closing_time", "inflight_diff_count", "inflight_snap_count",
        "leader_unavailable_time", "unavailable_time", "quit_leading_due_to_disloyal_voter",
    },
}


def metric_name(key):
    name = re.sub(r"^zk_((avg|min|max|cnt|sum|p50|p95|p99|p999)_)?", "", key)
    return re.sub(r"^.*_(read|write)_per_namespace$", r"<namespace>_\1_per_namespace", name)


def mntr_of(kind):
    server = zkservers.Server(kind, prefix="mntr-keys").start()
    try:
        zk = server.client()
        try:
            zk.create("/mntr-keys", b"x")
            zk.get("/mntr-keys")
        finally:
            zkservers.stop_client(zk)
        text = four_letter(server.port, "mntr")
    finally:
        server.cleanup()
    return dict(line.split("\t", 1) for line in text.splitlines() if line)


def test_mntr_prints_zookeepers_keys_but_the_listed_ones():
    zk, ours = mntr_of("zookeeper"), mntr_of("zabkeeper")
    assert not set(ours) - set(zk), "keys ZooKeeper 3.8 does not print: %s" % sorted(set(ours) - set(zk))
    missing = {metric_name(k) for k in set(zk) - set(ours)}
    omitted = set().union(*OMITTED.values())
    assert missing == omitted, (
        "not printed and not listed as omitted: %s; listed but printed (or no longer in "
        "ZooKeeper's): %s" % (sorted(missing - omitted), sorted(omitted - missing)))
    # Every summary we print carries ZooKeeper's five (or nine) keys.
    for name in {metric_name(k) for k in ours if k.startswith("zk_cnt_")}:
        parts = {p for p in ("avg", "min", "max", "cnt", "sum", "p50", "p95", "p99", "p999")
                 if "zk_%s_%s" % (p, name) in zk}
        assert all("zk_%s_%s" % (p, name) in ours for p in parts), name
