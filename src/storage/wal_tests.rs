//! Tests of the txn log (`wal`): round trips, torn tails, corruption, purge, truncation.

use super::*;
use proptest::prelude::*;

fn opts() -> LogOptions {
    LogOptions { pre_alloc_size: 256, max_payload: 1 << 16, force_sync: true }
}

fn payload(z: i64) -> Vec<u8> {
    format!("payload of txn {z} {}", "x".repeat((z % 7) as usize)).into_bytes()
}

/// Appends and syncs zxids `zs`, one record each.
fn append_all(log: &mut TxnLog, zs: impl IntoIterator<Item = i64>) {
    for z in zs {
        log.append(z, &payload(z)).unwrap();
    }
    log.sync().unwrap();
}

fn zxids(log: &TxnLog) -> Vec<i64> {
    log.read_after(0).unwrap().into_iter().map(|r| r.0).collect()
}

/// Offset of the record with index `i` in a segment whose records are `zs`.
fn record_offset(zs: &[i64], i: usize) -> u64 {
    SEGMENT_HEADER_LEN + zs[..i].iter().map(|&z| RECORD_HEADER_LEN + payload(z).len() as u64).sum::<u64>()
}

fn flip_byte(path: &Path, offset: u64) {
    let f = OpenOptions::new().read(true).write(true).open(path).unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, offset).unwrap();
    f.write_all_at(&[b[0] ^ 0xff], offset).unwrap();
}

#[test]
fn round_trip_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut log = TxnLog::open(dir.path(), opts()).unwrap();
        assert_eq!(log.last_zxid(), 0);
        append_all(&mut log, 1..=20); // grows past several preallocation steps
        log.roll().unwrap();
        append_all(&mut log, [25, 26, 30]);
        log.roll().unwrap();
        log.roll().unwrap(); // rolling twice without appends creates nothing
        append_all(&mut log, 31..=40);
        log.append(41, b"never synced").unwrap();
        assert_eq!(log.last_zxid(), 41);
        assert_eq!(log.last_durable_zxid(), 40);
        let names: Vec<_> = log.segments().iter().map(|p| p.file_name().unwrap().to_owned()).collect();
        assert_eq!(names, ["log.0000000000000001", "log.0000000000000019", "log.000000000000001f"]);
        assert!(log.total_size().unwrap() > 0);
    }
    let mut log = TxnLog::open(dir.path(), opts()).unwrap();
    assert_eq!(log.last_zxid(), 40);
    let all: Vec<i64> = (1..=20).chain([25, 26, 30]).chain(31..=40).collect();
    assert_eq!(zxids(&log), all);
    for after in [0, 5, 20, 24, 25, 30, 39, 40, 100] {
        let got = log.read_after(after).unwrap();
        let want: Vec<i64> = all.iter().copied().filter(|&z| z > after).collect();
        assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), want, "after {after}");
        assert!(got.iter().all(|(z, p)| p[..] == payload(*z)[..]));
    }
    // Appends continue in the last segment after reopening.
    assert!(matches!(log.append(40, b"dup"), Err(StorageError::ZxidOrder { zxid: 40, last: 40 })));
    assert!(log.append(41, b"").is_err());
    append_all(&mut log, 41..=45);
    assert_eq!(log.segments().len(), 3);
    drop(log);
    let log = TxnLog::open(dir.path(), opts()).unwrap();
    assert_eq!(log.read_after(40).unwrap().len(), 5);
}

/// Writes zxids 1..=n into a fresh log (one segment) and returns the dir and segment path.
fn one_segment(n: i64) -> (tempfile::TempDir, PathBuf, Vec<i64>) {
    let dir = tempfile::tempdir().unwrap();
    let mut log = TxnLog::open(dir.path(), opts()).unwrap();
    append_all(&mut log, 1..=n);
    let path = log.segments()[0].clone();
    (dir, path, (1..=n).collect())
}

/// Reopens after damage: expects success with records 1..=keep, then appends more.
fn expect_repaired(dir: &Path, keep: i64) {
    let mut log = TxnLog::open(dir, opts()).unwrap();
    assert_eq!(zxids(&log), (1..=keep).collect::<Vec<_>>());
    append_all(&mut log, [keep + 1, keep + 2]);
    drop(log);
    let log = TxnLog::open(dir, opts()).unwrap();
    assert_eq!(zxids(&log), (1..=keep + 2).collect::<Vec<_>>());
}

#[test]
fn torn_tail_truncated_mid_record() {
    let (dir, path, zs) = one_segment(10);
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(record_offset(&zs, 9) + 20).unwrap();
    drop(f);
    expect_repaired(dir.path(), 9);
    // Truncated inside a record header.
    let (dir, path, zs) = one_segment(10);
    OpenOptions::new().write(true).open(&path).unwrap().set_len(record_offset(&zs, 7) + 5).unwrap();
    expect_repaired(dir.path(), 7);
}

#[test]
fn torn_tail_garbage_after_last_record() {
    let (dir, path, zs) = one_segment(10);
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all_at(b"\x00\x00\x01\x00garbage garbage garbage", record_offset(&zs, 10)).unwrap();
    drop(f);
    expect_repaired(dir.path(), 10);
    // A zero length field followed by junk is also a repairable tail.
    let (dir, path, zs) = one_segment(10);
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all_at(b"junk", record_offset(&zs, 10) + 40).unwrap();
    drop(f);
    expect_repaired(dir.path(), 10);
}

#[test]
fn torn_tail_flipped_byte_in_last_record() {
    let (dir, path, zs) = one_segment(10);
    flip_byte(&path, record_offset(&zs, 9) + RECORD_HEADER_LEN + 3);
    expect_repaired(dir.path(), 9);
}

#[test]
fn corruption_in_the_middle_is_refused() {
    let (dir, path, zs) = one_segment(10);
    let off = record_offset(&zs, 2);
    flip_byte(&path, off + RECORD_HEADER_LEN + 1);
    match TxnLog::open(dir.path(), opts()) {
        Err(StorageError::Corrupt { file, offset, reason }) => {
            assert_eq!((file, offset), (path.clone(), off), "{reason}");
            assert!(reason.contains("follows"), "{reason}");
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("opened a corrupt log"),
    }
    let msg = TxnLog::open(dir.path(), opts()).err().unwrap().to_string();
    assert!(msg.contains("log.0000000000000001") && msg.contains(&format!("offset {off}")), "{msg}");
}

#[test]
fn damage_in_an_older_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = TxnLog::open(dir.path(), opts()).unwrap();
    append_all(&mut log, 1..=5);
    log.roll().unwrap();
    append_all(&mut log, 6..=8);
    let first = log.segments()[0].clone();
    drop(log);
    // Damage the very last record of the first segment: not a torn tail, since it is not last.
    let zs: Vec<i64> = (1..=5).collect();
    flip_byte(&first, record_offset(&zs, 4) + RECORD_HEADER_LEN);
    let err = TxnLog::open(dir.path(), opts()).err().expect("must refuse");
    assert!(
        matches!(&err, StorageError::Corrupt { file, offset, .. } if *file == first && *offset == record_offset(&zs, 4)),
        "{err}"
    );
}

#[test]
fn decreasing_zxids_on_disk_are_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = TxnLog::open(dir.path(), opts()).unwrap();
    append_all(&mut log, 1..=5);
    drop(log);
    let other = tempfile::tempdir().unwrap();
    let mut log = TxnLog::open(other.path(), opts()).unwrap();
    append_all(&mut log, 3..=4);
    let src = log.segments()[0].clone();
    drop(log);
    std::fs::copy(src, dir.path().join("version-2").join(segment_name(3))).unwrap();
    let err = TxnLog::open(dir.path(), opts()).err().expect("must refuse");
    assert!(err.is_corrupt() && err.to_string().contains("does not increase"), "{err}");
}

#[test]
fn empty_or_headerless_last_segment_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = TxnLog::open(dir.path(), opts()).unwrap();
    append_all(&mut log, 1..=3);
    drop(log);
    let v2 = dir.path().join("version-2");
    std::fs::write(v2.join(segment_name(4)), [0u8; 100]).unwrap();
    std::fs::write(v2.join("unrelated.txt"), b"ignored").unwrap();
    let mut log = TxnLog::open(dir.path(), opts()).unwrap();
    assert_eq!(log.segments().len(), 1);
    append_all(&mut log, [4]);
    assert_eq!(zxids(&log), vec![1, 2, 3, 4]);
}

#[test]
fn purge_before_keeps_what_it_must() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = TxnLog::open(dir.path(), opts()).unwrap();
    for (a, b) in [(1, 10), (11, 20), (25, 30), (31, 40)] {
        append_all(&mut log, a..=b);
        log.roll().unwrap();
    }
    append_all(&mut log, 41..=45);
    assert_eq!(log.purge_before(5).unwrap(), 0); // segment 1 contains 5
    assert_eq!(log.purge_before(11).unwrap(), 1); // 1..10 goes, 11.. contains 11
    assert_eq!(log.purge_before(22).unwrap(), 0); // 11..20 precedes 25, the first record > 22
    assert_eq!(log.first_zxid(), Some(11));
    assert_eq!(log.purge_before(25).unwrap(), 1);
    assert_eq!(log.purge_before(i64::MAX).unwrap(), 2); // never the current segment
    assert_eq!(zxids(&log), (41..=45).collect::<Vec<_>>());
    drop(log);
    let log = TxnLog::open(dir.path(), opts()).unwrap();
    assert_eq!(log.segments().len(), 1);
}

#[test]
fn truncate_after_drops_later_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = TxnLog::open(dir.path(), opts()).unwrap();
    append_all(&mut log, 1..=10);
    log.roll().unwrap();
    append_all(&mut log, 11..=20);
    log.append(21, b"buffered").unwrap();
    log.truncate_after(25).unwrap();
    assert_eq!(log.last_zxid(), 21);
    log.truncate_after(15).unwrap();
    assert_eq!(log.last_zxid(), 15);
    assert_eq!(zxids(&log), (1..=15).collect::<Vec<_>>());
    append_all(&mut log, [16, 17]);
    log.truncate_after(7).unwrap();
    assert_eq!(log.segments().len(), 1);
    append_all(&mut log, [8, 9]);
    drop(log);
    let mut log = TxnLog::open(dir.path(), opts()).unwrap();
    assert_eq!(zxids(&log), (1..=9).collect::<Vec<_>>());
    log.truncate_after(0).unwrap();
    assert_eq!((log.last_zxid(), log.segments().len()), (0, 0));
    append_all(&mut log, [3]);
    drop(log);
    assert_eq!(zxids(&TxnLog::open(dir.path(), opts()).unwrap()), vec![3]);
}

#[derive(Debug, Clone)]
enum Op {
    Append(usize),
    Sync,
    Roll,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![6 => (1usize..300).prop_map(Op::Append), 2 => Just(Op::Sync), 1 => Just(Op::Roll)]
}

/// Runs `ops`, returning the dir and the durable records (zxid, payload) in order.
fn run_ops(ops: &[Op]) -> (tempfile::TempDir, Vec<(i64, Vec<u8>)>) {
    let dir = tempfile::tempdir().unwrap();
    let mut log = TxnLog::open(dir.path(), opts()).unwrap();
    let (mut durable, mut pending) = (Vec::new(), Vec::new());
    let mut z = 0;
    for op in ops {
        match op {
            Op::Append(len) => {
                z += 1 + (*len as i64 % 3);
                let p: Vec<u8> = (0..*len).map(|i| (i as i64 * 7 + z) as u8).collect();
                log.append(z, &p).unwrap();
                pending.push((z, p));
            }
            Op::Sync | Op::Roll => {
                if matches!(op, Op::Roll) {
                    log.roll().unwrap();
                } else {
                    log.sync().unwrap();
                }
                durable.append(&mut pending);
            }
        }
    }
    (dir, durable) // unsynced records are dropped with the log
}

fn reopened_records(dir: &Path) -> Result<Vec<(i64, Vec<u8>)>> {
    let log = TxnLog::open(dir, opts())?;
    Ok(log.read_after(0)?.into_iter().map(|(z, p)| (z, p.to_vec())).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Cutting the last segment anywhere leaves a prefix that includes every record that
    /// ended before the cut.
    #[test]
    fn truncated_tail_yields_prefix(ops in prop::collection::vec(op(), 1..40), cut in 0.0f64..1.0) {
        let (dir, durable) = run_ops(&ops);
        let segs = TxnLog::open(dir.path(), opts()).unwrap().segments();
        if let Some(last) = segs.last() {
            let len = std::fs::metadata(last).unwrap().len();
            let at = (len as f64 * cut) as u64;
            OpenOptions::new().write(true).open(last).unwrap().set_len(at).unwrap();
        }
        let got = reopened_records(dir.path()).unwrap();
        prop_assert!(got.len() <= durable.len());
        prop_assert_eq!(&got[..], &durable[..got.len()]);
        // Every record of the earlier segments survives.
        if segs.len() > 1 {
            let first_of_last = segs.last().unwrap().file_name().unwrap().to_str().unwrap()
                .trim_start_matches("log.").to_string();
            let first_of_last = i64::from_str_radix(&first_of_last, 16).unwrap();
            let before = durable.iter().filter(|r| r.0 < first_of_last).count();
            prop_assert!(got.len() >= before);
        }
        // And the log keeps working.
        let mut log = TxnLog::open(dir.path(), opts()).unwrap();
        let next = log.last_zxid() + 1;
        log.append(next, b"more").unwrap();
        log.sync().unwrap();
    }

    /// A flipped byte anywhere never panics: open either refuses with `Corrupt` or yields a
    /// prefix of the durable records.
    #[test]
    fn flipped_byte_never_panics(ops in prop::collection::vec(op(), 1..30), which in 0usize..8, pos in 0.0f64..1.0) {
        let (dir, durable) = run_ops(&ops);
        let segs = TxnLog::open(dir.path(), opts()).unwrap().segments();
        if !segs.is_empty() {
            let path = &segs[which % segs.len()];
            let len = std::fs::metadata(path).unwrap().len();
            flip_byte(path, ((len as f64 * pos) as u64).min(len - 1));
        }
        match reopened_records(dir.path()) {
            Ok(got) => {
                prop_assert!(got.len() <= durable.len());
                prop_assert_eq!(&got[..], &durable[..got.len()]);
            }
            Err(e) => prop_assert!(e.is_corrupt(), "{}", e),
        }
    }
}

/// Whether `path` has a hole (unallocated blocks) anywhere before its end.
fn has_hole(path: &Path) -> bool {
    use std::os::unix::io::AsRawFd;
    let f = File::open(path).unwrap();
    let len = f.metadata().unwrap().len();
    // SAFETY: lseek on a file we own; only its offset moves.
    let hole = unsafe { libc::lseek(f.as_raw_fd(), 0, libc::SEEK_HOLE) };
    (hole as u64) < len
}

#[test]
fn later_segments_use_a_zero_filled_file_made_ready_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let big = LogOptions { pre_alloc_size: 1 << 20, max_payload: 1 << 16, force_sync: true };
    let mut log = TxnLog::open(dir.path(), big.clone()).unwrap();
    append_all(&mut log, 1..=10);
    let next = log.dir.join(crate::storage::prealloc::NEXT_NAME);
    log.wait_next_segment_ready();
    assert!(next.exists(), "the next segment is being made ready");
    log.roll().unwrap();
    append_all(&mut log, 11..=20);
    let second = log.dir.join(segment_name(11));
    assert!(!has_hole(&second), "the second segment's preallocation is written zeros, not a hole");
    assert_eq!(std::fs::metadata(&second).unwrap().len(), 1 << 20);
    // A leftover prepared file (here: garbage) is removed at open, never used as a segment.
    log.wait_next_segment_ready();
    drop(log);
    std::fs::write(&next, b"junk that is not zeros").unwrap();
    let mut log = TxnLog::open(dir.path(), big).unwrap();
    log.wait_next_segment_ready();
    let now = std::fs::read(&next).unwrap();
    assert!(now.len() >= 4 << 10 && now.iter().all(|&b| b == 0), "made afresh: {} bytes", now.len());
    assert_eq!(zxids(&log), (1..=20).collect::<Vec<_>>());
    log.roll().unwrap();
    append_all(&mut log, 21..=25);
    assert!(!has_hole(&log.dir.join(segment_name(21))));
    drop(log);
    let log = TxnLog::open(dir.path(), opts()).unwrap();
    assert_eq!(zxids(&log), (1..=25).collect::<Vec<_>>());
}
