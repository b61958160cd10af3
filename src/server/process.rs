//! Process-wide settings the server applies once when it runs as its own process (`run`, not
//! the in-process servers tests start): the open-file limit and the allocator's policy.
//! Must never: be needed for correctness; each setting only changes limits and memory use.

/// Applies every setting; failures are logged and ignored.
pub fn tune() {
    raise_file_limit();
    return_large_frees();
}

/// Raises the soft limit on open files to the hard one, as the JVM does for ZooKeeper, so
/// `maxClientCnxns=0` can hold as many connections as the system allows.
fn raise_file_limit() {
    // SAFETY: getrlimit/setrlimit read and write only the struct passed.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
                tracing::debug!("could not raise the open-file limit from {}", lim.rlim_cur);
            }
        }
    }
}

/// glibc serves allocations past its mmap threshold with their own mappings, which go back
/// to the system when freed, but it raises that threshold to the size of any such block once
/// freed, after which big buffers (a burst of replies to a slow reader) come from the heap and
/// stay there: measured here, 40 MiB kept after a slow-reader flood ended against 6 MiB with a
/// fixed 128 KiB threshold, and no difference in throughput (read/write/create benchmarks).
fn return_large_frees() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's tuning, under glibc's own arena locks.
    unsafe {
        if libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10) != 1 {
            tracing::debug!("mallopt(M_MMAP_THRESHOLD) refused");
        }
    }
}
