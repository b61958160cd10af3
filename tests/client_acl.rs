//! ACLs through zookeeper-client: digest auth and the `auth` scheme, which permission each
//! op needs (CREATE/DELETE on the parent, WRITE, ADMIN, READ, none for exists), ip ACLs and
//! the super digest.

mod common;

use common::{start_server_with, zk_connect as connect, TestServer};
use std::time::Duration;
use zk::{Acl, Acls, AuthId, CreateMode, Permission};
use zookeeper_client as zk;

/// "super:test" hashed, as DigestAuthenticationProvider.generateDigest prints it.
const SUPER_DIGEST: &str = "super:D/InIHSb7yEEbrWz8b9l71RjZJU=";

async fn server() -> TestServer {
    start_server_with(|c| {
        c.max_session_timeout = Some(60_000);
        c.super_digest = Some(SUPER_DIGEST.into());
    })
    .await
}

async fn connect_as(srv: &TestServer, user_pass: &str) -> zk::Client {
    let c = connect(srv).await;
    c.auth("digest", user_pass.as_bytes()).await.expect("auth");
    c
}

fn with(acls: &[Acl]) -> zk::CreateOptions<'_> {
    CreateMode::Persistent.with_acls(Acls::new(acls))
}

fn world(perm: Permission) -> [Acl; 1] {
    [Acl::new(perm, AuthId::anyone())]
}

fn open() -> zk::CreateOptions<'static> {
    CreateMode::Persistent.with_acls(Acls::anyone_all())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_scheme_acl_belongs_to_the_digest_user() {
    let srv = server().await;
    let alice = connect_as(&srv, "alice:secret").await;
    alice.create("/private", b"data", &CreateMode::Persistent.with_acls(Acls::creator_all())).await.unwrap();
    // The "auth" id is replaced by the caller's digest identity.
    let (acl, _) = alice.get_acl("/private").await.unwrap();
    let digest = zabkeeper::acl::generate_digest("alice:secret");
    assert_eq!(acl, vec![Acl::new(Permission::ALL, AuthId::new("digest", &digest))]);
    assert_eq!(alice.get_data("/private").await.unwrap().0, b"data");

    let anon = connect(&srv).await;
    assert_eq!(anon.get_data("/private").await.unwrap_err(), zk::Error::NoAuth);
    assert_eq!(anon.set_data("/private", b"x", None).await.unwrap_err(), zk::Error::NoAuth);
    assert_eq!(anon.list_children("/private").await.unwrap_err(), zk::Error::NoAuth);
    // exists needs no permission.
    assert!(anon.check_stat("/private").await.unwrap().is_some());

    let bob = connect_as(&srv, "bob:secret").await;
    assert_eq!(bob.get_data("/private").await.unwrap_err(), zk::Error::NoAuth);
    let wrong_pw = connect_as(&srv, "alice:wrong").await;
    assert_eq!(wrong_pw.get_data("/private").await.unwrap_err(), zk::Error::NoAuth);
    let alice2 = connect_as(&srv, "alice:secret").await;
    assert_eq!(alice2.get_data("/private").await.unwrap().0, b"data");
    alice2.set_data("/private", b"new", None).await.unwrap();

    // An explicit digest ACL works the same as the expanded auth one.
    let explicit = [Acl::new(Permission::READ, AuthId::new("digest", &digest))];
    anon.create("/explicit", b"e", &with(&explicit)).await.unwrap();
    assert_eq!(anon.get_data("/explicit").await.unwrap_err(), zk::Error::NoAuth);
    assert_eq!(alice.get_data("/explicit").await.unwrap().0, b"e");
    assert_eq!(alice.set_data("/explicit", b"x", None).await.unwrap_err(), zk::Error::NoAuth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn world_read_only_node() {
    let srv = server().await;
    let c = connect(&srv).await;
    c.create("/ro", b"r", &CreateMode::Persistent.with_acls(Acls::anyone_read())).await.unwrap();
    assert_eq!(c.get_data("/ro").await.unwrap().0, b"r");
    assert_eq!(c.list_children("/ro").await.unwrap(), Vec::<String>::new());
    assert_eq!(c.set_data("/ro", b"w", None).await.unwrap_err(), zk::Error::NoAuth);
    assert_eq!(c.create("/ro/kid", b"", &open()).await.unwrap_err(), zk::Error::NoAuth);
    assert_eq!(c.set_acl("/ro", &world(Permission::ALL), None).await.unwrap_err(), zk::Error::NoAuth);
    // Deleting it needs DELETE on the parent ("/" is open), not on the node itself.
    c.delete("/ro", None).await.unwrap();
    assert!(c.check_stat("/ro").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_delete_are_checked_on_the_parent() {
    let srv = server().await;
    let c = connect(&srv).await;
    c.create("/cr", b"", &with(&world(Permission::CREATE | Permission::READ))).await.unwrap();
    c.create("/cr/kid", b"", &open()).await.unwrap();
    assert_eq!(c.delete("/cr/kid", None).await.unwrap_err(), zk::Error::NoAuth);
    assert!(c.check_stat("/cr/kid").await.unwrap().is_some());

    c.create("/dl", b"", &open()).await.unwrap();
    c.create("/dl/kid", b"", &open()).await.unwrap();
    c.set_acl("/dl", &world(Permission::DELETE), None).await.unwrap();
    assert_eq!(c.create("/dl/other", b"", &open()).await.unwrap_err(), zk::Error::NoAuth);
    c.delete("/dl/kid", None).await.unwrap();
    // The ACL of the node being deleted does not matter.
    c.create("/dl2", b"", &open()).await.unwrap();
    c.create("/dl2/locked", b"", &with(&world(Permission::NONE | Permission::READ))).await.unwrap();
    c.delete("/dl2/locked", None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_admin_and_read_permissions() {
    let srv = server().await;
    let c = connect(&srv).await;
    c.create("/w", b"", &with(&world(Permission::WRITE))).await.unwrap();
    let st = c.set_data("/w", b"written", None).await.unwrap();
    assert_eq!(st.version, 1);
    assert_eq!(c.get_data("/w").await.unwrap_err(), zk::Error::NoAuth);
    assert_eq!(c.get_children("/w").await.unwrap_err(), zk::Error::NoAuth);
    // getACL needs READ or ADMIN.
    assert_eq!(c.get_acl("/w").await.unwrap_err(), zk::Error::NoAuth);
    assert_eq!(c.set_acl("/w", &world(Permission::ALL), None).await.unwrap_err(), zk::Error::NoAuth);
    assert_eq!(c.check_stat("/w").await.unwrap().map(|s| s.version), Some(1));

    c.create("/adm", b"", &with(&world(Permission::ADMIN))).await.unwrap();
    let (acl, _) = c.get_acl("/adm").await.unwrap();
    assert_eq!(acl, world(Permission::ADMIN).to_vec());
    let st = c.set_acl("/adm", &world(Permission::ALL), Some(0)).await.unwrap();
    assert_eq!(st.aversion, 1);
    c.set_data("/adm", b"now open", None).await.unwrap();

    // Multi checks each op's permission; a denied op fails the whole multi.
    c.create("/rd", b"", &with(&world(Permission::READ))).await.unwrap();
    let mut m = c.new_multi_writer();
    m.add_create("/free", b"", &open()).unwrap();
    m.add_set_data("/rd", b"no", None).unwrap();
    let err = m.commit().await.unwrap_err();
    assert_eq!(err, zk::MultiWriteError::OperationFailed { index: 1, source: zk::Error::NoAuth });
    assert!(c.check_stat("/free").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_acl_matches_the_peer_address() {
    let srv = server().await;
    let c = connect(&srv).await;
    let local = [Acl::new(Permission::ALL, AuthId::new("ip", "127.0.0.1"))];
    c.create("/ip-local", b"l", &with(&local)).await.unwrap();
    assert_eq!(c.get_data("/ip-local").await.unwrap().0, b"l");
    let net = [Acl::new(Permission::ALL, AuthId::new("ip", "127.0.0.0/8"))];
    c.create("/ip-net", b"n", &with(&net)).await.unwrap();
    assert_eq!(c.get_data("/ip-net").await.unwrap().0, b"n");
    let other = [Acl::new(Permission::ALL, AuthId::new("ip", "10.0.0.0/8"))];
    c.create("/ip-other", b"o", &with(&other)).await.unwrap();
    assert_eq!(c.get_data("/ip-other").await.unwrap_err(), zk::Error::NoAuth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn super_digest_can_do_anything() {
    let srv = server().await;
    let alice = connect_as(&srv, "alice:secret").await;
    alice.create("/vault", b"gold", &CreateMode::Persistent.with_acls(Acls::creator_all())).await.unwrap();
    alice.create("/vault/kid", b"", &CreateMode::Persistent.with_acls(Acls::creator_all())).await.unwrap();
    let nobody = [Acl::new(Permission::READ, AuthId::new("ip", "10.9.9.9"))];
    alice.create("/sealed", b"s", &with(&nobody)).await.unwrap();

    let wrong = connect_as(&srv, "super:nope").await;
    assert_eq!(wrong.get_data("/vault").await.unwrap_err(), zk::Error::NoAuth);

    let root = connect_as(&srv, "super:test").await;
    let users = root.list_auth_users().await.unwrap();
    assert!(users.iter().any(|u| u.scheme() == "super"), "{users:?}");
    assert_eq!(root.get_data("/vault").await.unwrap().0, b"gold");
    assert_eq!(root.get_data("/sealed").await.unwrap().0, b"s");
    root.set_data("/vault", b"lead", None).await.unwrap();
    root.create("/vault/root-kid", b"", &open()).await.unwrap();
    root.delete("/vault/kid", None).await.unwrap();
    let st = root.set_acl("/vault", &world(Permission::READ), None).await.unwrap();
    assert_eq!(st.aversion, 1);
    let (acl, _) = root.get_acl("/vault").await.unwrap();
    assert_eq!(acl, world(Permission::READ).to_vec());
    // Now alice lost her rights; the world can read.
    assert_eq!(alice.set_data("/vault", b"x", None).await.unwrap_err(), zk::Error::NoAuth);
    let anon = connect(&srv).await;
    assert_eq!(anon.get_data("/vault").await.unwrap().0, b"lead");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_auth_scheme_fails_the_session() {
    let srv = server().await;
    let c = connect(&srv).await;
    let err = tokio::time::timeout(Duration::from_secs(20), c.auth("nosuchscheme", b"x")).await.unwrap().unwrap_err();
    assert_eq!(err, zk::Error::AuthFailed);
    assert_eq!(c.state(), zk::SessionState::AuthFailed);
}
