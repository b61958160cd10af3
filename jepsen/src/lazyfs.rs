//! A lazy disk: a FUSE passthrough over a backing directory that remembers every write not yet
//! made durable by an `fsync`/`fdatasync` of its file, and on `lose_unsynced` forgets them — the
//! power failure a member's data directory sees, where the page cache dies with the machine.
//! (Jepsen's LazyFS does the same; this is our own, small and in-process.)
//!
//! The model: file data and size are durable only once their file is fsynced; metadata
//! (creations, renames, removals, directories) is durable at once, as a journaling file
//! system makes it. A file created and never fsynced survives a crash empty. On a crash the
//! unsynced writes are undone from a per-file undo log (the original bytes of each 4 KiB block
//! a write first touched since the file's last fsync, and its length then); optionally a torn
//! crash keeps a random prefix, in offset order, of the changed blocks — the tail of an append
//! then ends in the middle of a record.
//!
//! Must never: lose a write that was fsynced, or keep one that was not (apart from a torn
//! crash's prefix); serve anything but its own backing directory.

use fuser::{
    BackgroundSession, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, OpenFlags,
    RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs,
    ReplyWrite, Request, TimeOrNow,
};
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const BLOCK: u64 = 4096;
/// Nothing is cached by the kernel beyond an open file's life: after a crash the next open
/// and every lookup see the backing files as they are.
const TTL: Duration = Duration::ZERO;
const ROOT: u64 = 1;

/// What to undo in one file on a crash.
#[derive(Debug, Default)]
struct Undo {
    /// The file's length at its last fsync.
    len: u64,
    /// Block number → its bytes at the last fsync (only blocks below `len`).
    blocks: BTreeMap<u64, Vec<u8>>,
    /// Blocks at or past `len` written since (only needed for torn crashes).
    grown: std::collections::BTreeSet<u64>,
}

#[derive(Default)]
struct State {
    root: PathBuf,
    paths: HashMap<u64, PathBuf>,
    inos: HashMap<PathBuf, u64>,
    next_ino: u64,
    files: HashMap<u64, (u64, File)>,
    next_fh: u64,
    undo: HashMap<u64, Undo>,
}

/// What a crash took away.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Lost {
    pub files: usize,
    /// Bytes of unsynced data undone (blocks restored plus length cut).
    pub bytes: u64,
}

impl State {
    fn ino_for(&mut self, path: &Path) -> u64 {
        if let Some(&i) = self.inos.get(path) {
            return i;
        }
        self.next_ino += 1;
        let i = self.next_ino;
        self.inos.insert(path.to_path_buf(), i);
        self.paths.insert(i, path.to_path_buf());
        i
    }

    fn path(&self, ino: INodeNo) -> Result<PathBuf, Errno> {
        self.paths.get(&ino.0).cloned().ok_or(Errno::ENOENT)
    }

    fn forget_path(&mut self, path: &Path) {
        if let Some(i) = self.inos.remove(path) {
            self.paths.remove(&i);
            self.undo.remove(&i);
        }
    }

    fn attr(&mut self, path: &Path) -> Result<FileAttr, Errno> {
        let m = std::fs::symlink_metadata(path).map_err(Errno::from)?;
        let ino = self.ino_for(path);
        Ok(to_attr(ino, &m))
    }
}

/// Saves the original bytes of the blocks in `[from, to)` that lie below the file's length
/// at its last fsync and are not saved yet; opens the file's undo entry.
fn save(undo: &mut HashMap<u64, Undo>, ino: u64, file: &File, from: u64, to: u64) -> io::Result<()> {
    let undo = match undo.entry(ino) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(Undo { len: file.metadata()?.len(), ..Undo::default() })
        }
    };
    if to <= from {
        return Ok(());
    }
    for b in from / BLOCK..=(to - 1) / BLOCK {
        if b * BLOCK >= undo.len {
            undo.grown.insert(b);
            continue;
        }
        if undo.blocks.contains_key(&b) {
            continue;
        }
        let end = ((b + 1) * BLOCK).min(undo.len);
        let mut buf = vec![0u8; (end - b * BLOCK) as usize];
        let n = file.read_at(&mut buf, b * BLOCK)?;
        buf.truncate(n);
        undo.blocks.insert(b, buf);
    }
    Ok(())
}

fn to_attr(ino: u64, m: &std::fs::Metadata) -> FileAttr {
    let t = |s: i64, ns: i64| UNIX_EPOCH + Duration::new(s.max(0) as u64, ns.clamp(0, 999_999_999) as u32);
    let kind = if m.is_dir() {
        FileType::Directory
    } else if m.file_type().is_symlink() {
        FileType::Symlink
    } else {
        FileType::RegularFile
    };
    FileAttr {
        ino: INodeNo(ino),
        size: m.len(),
        blocks: m.blocks(),
        atime: t(m.atime(), m.atime_nsec()),
        mtime: t(m.mtime(), m.mtime_nsec()),
        ctime: t(m.ctime(), m.ctime_nsec()),
        crtime: t(m.mtime(), m.mtime_nsec()),
        kind,
        perm: (m.mode() & 0o7777) as u16,
        nlink: m.nlink() as u32,
        uid: m.uid(),
        gid: m.gid(),
        rdev: m.rdev() as u32,
        blksize: BLOCK as u32,
        flags: 0,
    }
}

/// Undoes every unsynced write; `torn` keeps a random prefix of each file's changed blocks.
fn undo_all(st: &mut State, torn: Option<u64>) -> io::Result<Lost> {
    let mut lost = Lost::default();
    let mut rng = torn.map(|s| s | 1);
    let undo = std::mem::take(&mut st.undo);
    for (ino, u) in undo {
        let Some(path) = st.paths.get(&ino) else { continue };
        let file = match OpenOptions::new().write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let now = file.metadata()?.len();
        // The changed blocks in offset order; a torn crash keeps the first `keep` of them.
        let mut changed: Vec<u64> = u.blocks.keys().chain(u.grown.iter()).copied().collect();
        changed.sort_unstable();
        changed.dedup();
        let keep = match rng.as_mut() {
            Some(x) => {
                *x ^= *x << 13;
                *x ^= *x >> 7;
                *x ^= *x << 17;
                (*x % (changed.len() as u64 + 1)) as usize
            }
            None => 0,
        };
        let (kept, undone) = changed.split_at(keep);
        for b in undone {
            if let Some(bytes) = u.blocks.get(b) {
                file.write_at(bytes, b * BLOCK)?;
                lost.bytes += bytes.len() as u64;
            }
        }
        let kept_end = kept.iter().filter(|&&b| b * BLOCK >= u.len).map(|b| (b + 1) * BLOCK).max().unwrap_or(0);
        let len = u.len.max(kept_end.min(now));
        file.set_len(len)?;
        lost.bytes += now.saturating_sub(len);
        lost.files += 1;
    }
    Ok(lost)
}

/// The filesystem the kernel talks to.
struct LazyFs(Arc<Mutex<State>>);

impl LazyFs {
    fn st(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Filesystem for LazyFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut st = self.st();
        let r = st.path(parent).and_then(|p| st.attr(&p.join(name)));
        match r {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        let mut st = self.st();
        if let Some((_, f)) = fh.and_then(|h| st.files.get(&h.0)) {
            match f.metadata() {
                Ok(m) => return reply.attr(&TTL, &to_attr(ino.0, &m)),
                Err(e) => return reply.error(e.into()),
            }
        }
        match st.path(ino).and_then(|p| st.attr(&p)) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut st = self.st();
        let r = (|| -> Result<FileAttr, Errno> {
            let path = st.path(ino)?;
            if let Some(m) = mode {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(m & 0o7777))?;
            }
            if let Some(size) = size {
                let f = OpenOptions::new().write(true).read(true).open(&path)?;
                let now = f.metadata()?.len();
                save(&mut st.undo, ino.0, &f, size.min(now), now)?;
                f.set_len(size)?;
            }
            st.attr(&path)
        })();
        match r {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, mode: u32, _umask: u32, reply: ReplyEntry) {
        let mut st = self.st();
        let r = (|| -> Result<FileAttr, Errno> {
            let path = st.path(parent)?.join(name);
            std::fs::create_dir(&path)?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o7777))?;
            st.attr(&path)
        })();
        match r {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut st = self.st();
        let r = st.path(parent).map(|p| p.join(name)).and_then(|p| {
            std::fs::remove_file(&p)?;
            st.forget_path(&p);
            Ok(())
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut st = self.st();
        let r = st.path(parent).map(|p| p.join(name)).and_then(|p| {
            std::fs::remove_dir(&p)?;
            st.forget_path(&p);
            Ok(())
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let mut st = self.st();
        let r = (|| -> Result<(), Errno> {
            let from = st.path(parent)?.join(name);
            let to = st.path(newparent)?.join(newname);
            if flags.contains(RenameFlags::RENAME_NOREPLACE) && to.exists() {
                return Err(Errno::EEXIST);
            }
            std::fs::rename(&from, &to)?;
            st.forget_path(&to);
            // Move the renamed entry and everything under it to the new name.
            let moved: Vec<(PathBuf, u64)> =
                st.inos.iter().filter(|(p, _)| p.starts_with(&from)).map(|(p, &i)| (p.clone(), i)).collect();
            for (p, i) in moved {
                let np = if p == from { to.clone() } else { to.join(p.strip_prefix(&from).expect("under from")) };
                st.inos.remove(&p);
                st.inos.insert(np.clone(), i);
                st.paths.insert(i, np);
            }
            Ok(())
        })();
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut st = self.st();
        let r = (|| -> Result<u64, Errno> {
            let path = st.path(ino)?;
            let acc = flags.0 & libc::O_ACCMODE;
            let f = OpenOptions::new()
                .read(acc != libc::O_WRONLY)
                .write(acc != libc::O_RDONLY)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)?;
            st.next_fh += 1;
            let fh = st.next_fh;
            st.files.insert(fh, (ino.0, f));
            Ok(fh)
        })();
        match r {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut st = self.st();
        let r = (|| -> Result<(FileAttr, u64), Errno> {
            let path = st.path(parent)?.join(name);
            let mut o = OpenOptions::new();
            o.read(true).write(true).create(true).mode(mode & 0o7777);
            if flags & libc::O_EXCL != 0 {
                o.create_new(true);
            }
            let f = o.open(&path)?;
            let attr = st.attr(&path)?;
            // A new file's data is no more durable than any other: a crash before its
            // fsync leaves it empty.
            save(&mut st.undo, attr.ino.0, &f, 0, 0)?;
            st.next_fh += 1;
            let fh = st.next_fh;
            st.files.insert(fh, (attr.ino.0, f));
            Ok((attr, fh))
        })();
        match r {
            Ok((a, fh)) => reply.created(&TTL, &a, Generation(0), FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyData,
    ) {
        let st = self.st();
        let Some((_, f)) = st.files.get(&fh.0) else { return reply.error(Errno::EBADF) };
        let mut buf = vec![0u8; size as usize];
        let mut got = 0;
        while got < buf.len() {
            match f.read_at(&mut buf[got..], offset + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) => return reply.error(e.into()),
            }
        }
        reply.data(&buf[..got]);
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: fuser::WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut st = self.st();
        let r = (|| -> Result<(), Errno> {
            let State { files, undo, .. } = &mut *st;
            let (ino, f) = files.get(&fh.0).ok_or(Errno::EBADF)?;
            save(undo, *ino, f, offset, offset + data.len() as u64)?;
            f.write_all_at(data, offset)?;
            Ok(())
        })();
        match r {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(&self, _req: &Request, _ino: INodeNo, _fh: FileHandle, _lo: fuser::LockOwner, reply: ReplyEmpty) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.st().files.remove(&fh.0);
        reply.ok();
    }

    fn fsync(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        let mut st = self.st();
        // Durable from here on: nothing of this file is undone by a crash any more. (The
        // backing file needs no fsync of its own: a crash here is simulated, not real.)
        match st.files.get(&fh.0).map(|(i, _)| *i) {
            Some(ino) => {
                st.undo.remove(&ino);
                reply.ok();
            }
            None => reply.error(Errno::EBADF),
        }
    }

    fn fsyncdir(&self, _req: &Request, _ino: INodeNo, _fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        reply.ok();
    }

    fn readdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let mut st = self.st();
        let dir = match st.path(ino) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        let read = match std::fs::read_dir(&dir) {
            Ok(r) => r,
            Err(e) => return reply.error(e.into()),
        };
        let mut entries = vec![(ino.0, FileType::Directory, ".".into()), (ino.0, FileType::Directory, "..".into())];
        for e in read.flatten() {
            let kind = match e.file_type() {
                Ok(t) if t.is_dir() => FileType::Directory,
                Ok(t) if t.is_symlink() => FileType::Symlink,
                _ => FileType::RegularFile,
            };
            let i = st.ino_for(&e.path());
            entries.push((i, kind, e.file_name()));
        }
        for (k, (i, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(i), k as u64 + 1, kind, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let root = self.st().root.clone();
        let c = std::ffi::CString::new(root.as_os_str().as_encoded_bytes()).unwrap_or_default();
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: a valid C string and a statvfs to fill.
        if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
            return reply.error(Errno::from(io::Error::last_os_error()));
        }
        reply.statfs(s.f_blocks, s.f_bfree, s.f_bavail, s.f_files, s.f_ffree, s.f_bsize as u32, 255, s.f_frsize as u32);
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let mut st = self.st();
        let r = (|| -> Result<(), Errno> {
            let State { files, undo, .. } = &mut *st;
            let (ino, f) = files.get(&fh.0).ok_or(Errno::EBADF)?;
            save(undo, *ino, f, offset, offset + length)?;
            // SAFETY: an open file descriptor this filesystem owns.
            if unsafe { libc::fallocate(f.as_raw_fd(), mode, offset as i64, length as i64) } != 0 {
                return Err(io::Error::last_os_error().into());
            }
            Ok(())
        })();
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

/// A mounted lazy disk; unmounted when dropped.
pub struct LazyDisk {
    state: Arc<Mutex<State>>,
    session: Option<BackgroundSession>,
    at: PathBuf,
}

impl LazyDisk {
    /// Serves `backing` at `at` (both directories must exist; needs root and /dev/fuse).
    pub fn mount(backing: &Path, at: &Path) -> io::Result<LazyDisk> {
        let root = backing.canonicalize()?;
        let mut st = State { root: root.clone(), next_ino: ROOT, ..State::default() };
        st.paths.insert(ROOT, root.clone());
        st.inos.insert(root, ROOT);
        let state = Arc::new(Mutex::new(st));
        let mut cfg = fuser::Config::default();
        cfg.mount_options = vec![fuser::MountOption::FSName("zkj-lazyfs".into()), fuser::MountOption::RW];
        let session = fuser::spawn_mount(LazyFs(state.clone()), at, &cfg)?;
        Ok(LazyDisk { state, session: Some(session), at: at.to_path_buf() })
    }

    /// Forgets every write not fsynced since it was made (call it with no process writing:
    /// after the member was killed). `torn`: keep a random prefix of each file's changes.
    pub fn lose_unsynced(&self, torn: Option<u64>) -> io::Result<Lost> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        undo_all(&mut st, torn)
    }

    pub fn mount_point(&self) -> &Path {
        &self.at
    }
}

impl Drop for LazyDisk {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            let _ = s.umount_and_join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn disk() -> (tempfile::TempDir, LazyDisk) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("backing")).unwrap();
        std::fs::create_dir(dir.path().join("mnt")).unwrap();
        let d =
            LazyDisk::mount(&dir.path().join("backing"), &dir.path().join("mnt")).expect("mounts (root, /dev/fuse)");
        (dir, d)
    }

    #[test]
    fn a_crash_keeps_what_was_fsynced_and_loses_the_rest() {
        let (dir, d) = disk();
        let m = d.mount_point().to_path_buf();
        // A log: a synced prefix, then an unsynced tail.
        let mut log = File::create(m.join("log")).unwrap();
        log.write_all(&vec![1u8; 10_000]).unwrap();
        log.sync_data().unwrap();
        log.write_all(&vec![2u8; 9_000]).unwrap();
        // An overwrite inside the synced part, not synced.
        log.write_all_at(&[3u8; 100], 5_000).unwrap();
        // A file never synced at all; a directory.
        std::fs::create_dir(m.join("sub")).unwrap();
        std::fs::write(m.join("sub/fresh"), b"not durable").unwrap();
        // A synced file renamed into place (the atomic-replace pattern).
        let mut tmp = File::create(m.join("epoch.tmp")).unwrap();
        tmp.write_all(b"7").unwrap();
        tmp.sync_all().unwrap();
        drop(tmp);
        std::fs::rename(m.join("epoch.tmp"), m.join("epoch")).unwrap();
        drop(log);
        assert_eq!(std::fs::metadata(m.join("log")).unwrap().len(), 19_000);

        let lost = d.lose_unsynced(None).unwrap();
        assert_eq!(lost.files, 2, "{lost:?}");
        let log = std::fs::read(m.join("log")).unwrap();
        assert_eq!(log, vec![1u8; 10_000], "the synced prefix, exactly");
        assert_eq!(std::fs::read(m.join("sub/fresh")).unwrap(), b"", "created, never synced: empty");
        assert_eq!(std::fs::read(m.join("epoch")).unwrap(), b"7");
        // The backing directory holds the same.
        assert_eq!(std::fs::read(dir.path().join("backing/log")).unwrap().len(), 10_000);
        // Nothing left to lose.
        assert_eq!(d.lose_unsynced(None).unwrap(), Lost::default());
    }

    #[test]
    fn a_torn_crash_keeps_a_prefix_of_the_unsynced_tail() {
        let (_dir, d) = disk();
        let m = d.mount_point().to_path_buf();
        let mut log = File::create(m.join("log")).unwrap();
        log.write_all(&vec![1u8; 4_096]).unwrap();
        log.sync_data().unwrap();
        let tail: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        log.write_all(&tail).unwrap();
        drop(log);
        let mut lens = std::collections::BTreeSet::new();
        for seed in 1..40 {
            // Rewrite the tail, crash torn, and look at what survived.
            let f = OpenOptions::new().write(true).open(m.join("log")).unwrap();
            f.set_len(4_096).unwrap();
            f.sync_data().unwrap();
            f.write_all_at(&tail, 4_096).unwrap();
            drop(f);
            d.lose_unsynced(Some(seed)).unwrap();
            let got = std::fs::read(m.join("log")).unwrap();
            assert!(got.len() >= 4_096 && got.len() <= 4_096 + tail.len(), "{}", got.len());
            assert_eq!(&got[..4_096], &[1u8; 4_096][..], "the synced block survives");
            assert_eq!(&got[4_096..], &tail[..got.len() - 4_096], "a prefix of the tail, nothing else");
            lens.insert(got.len());
        }
        assert!(lens.len() > 3, "torn crashes keep prefixes of different lengths: {lens:?}");
    }
}
