//! The ACL table: every distinct ACL list is stored once and znodes refer to it by a small
//! id, like ZooKeeper's reference-counted ACL cache. Saves memory with millions of znodes.
//! Must never: check permissions (that is `prep`'s job) or know about paths.

use crate::proto::records::Acl;
use std::collections::HashMap;
use std::sync::Arc;

/// Interned ACL lists with reference counts; id 0 is reserved for the empty list.
#[derive(Debug, Default, Clone)]
pub struct AclTable {
    lists: HashMap<u32, (Arc<[Acl]>, u64), ahash::RandomState>,
    by_value: HashMap<Arc<[Acl]>, u32, ahash::RandomState>,
    next: u32,
    /// The list interned last (checked first: most znodes share one ACL).
    last: Option<(Arc<[Acl]>, u32)>,
}

impl AclTable {
    /// Returns the id for `acl`, adding a reference.
    pub fn intern(&mut self, acl: &[Acl]) -> u32 {
        if acl.is_empty() {
            return 0;
        }
        if let Some((list, id)) = &self.last {
            if **list == *acl {
                self.lists.get_mut(id).expect("last acl id present").1 += 1;
                return *id;
            }
        }
        if let Some(&id) = self.by_value.get(acl) {
            self.last = Some((self.lists[&id].0.clone(), id));
            self.lists.get_mut(&id).expect("acl id present").1 += 1;
            return id;
        }
        self.next += 1;
        while self.next == 0 || self.lists.contains_key(&self.next) {
            self.next = self.next.wrapping_add(1);
        }
        let id = self.next;
        let list: Arc<[Acl]> = Arc::from(acl);
        self.by_value.insert(list.clone(), id);
        self.last = Some((list.clone(), id));
        self.lists.insert(id, (list, 1));
        id
    }

    /// Adds a reference to an interned list (snapshot restore hands out ids it interned).
    pub fn add_ref(&mut self, id: u32) {
        if let Some(entry) = self.lists.get_mut(&id) {
            entry.1 += 1;
        }
    }

    /// Every interned list with its id, by id.
    pub fn iter(&self) -> Vec<(u32, Arc<[Acl]>)> {
        let mut v: Vec<(u32, Arc<[Acl]>)> = self.lists.iter().map(|(&id, (l, _))| (id, l.clone())).collect();
        v.sort_unstable_by_key(|e| e.0);
        v
    }

    /// Drops a reference; the list is forgotten when nothing refers to it.
    pub fn release(&mut self, id: u32) {
        if id == 0 {
            return;
        }
        if let Some(entry) = self.lists.get_mut(&id) {
            entry.1 -= 1;
            if entry.1 == 0 {
                let (list, _) = self.lists.remove(&id).expect("present");
                self.by_value.remove(&list);
                if self.last.as_ref().is_some_and(|l| l.1 == id) {
                    self.last = None;
                }
            }
        }
    }

    pub fn get(&self, id: u32) -> Arc<[Acl]> {
        match self.lists.get(&id) {
            Some((l, _)) => l.clone(),
            None => Arc::from(Vec::new()),
        }
    }

    pub fn len(&self) -> usize {
        self.lists.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_shares_and_releases() {
        let mut t = AclTable::default();
        let a = vec![Acl::new(31, "world", "anyone")];
        let id1 = t.intern(&a);
        let id2 = t.intern(&a);
        assert_eq!(id1, id2);
        assert_eq!(t.len(), 1);
        t.release(id1);
        assert_eq!(*t.get(id2), a[..]);
        t.release(id2);
        assert!(t.is_empty());
        assert_eq!(t.intern(&[]), 0);
    }
}
