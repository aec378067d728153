//! The driver test suite on the in-memory driver.

use std::sync::Arc;

use berth_driver::{InMemoryDriver, StorageDriver};

async fn driver() -> Arc<dyn StorageDriver> {
    Arc::new(InMemoryDriver::new())
}

berth_driver::driver_test_suite!(driver);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// The in-memory driver refuses what the filesystem cannot store either.
#[test]
fn file_and_directory_conflicts() {
    runtime().block_on(async {
        let d = InMemoryDriver::new();
        d.put_content("/f", "file".into()).await.expect("put");
        d.put_content("/dir/x", "x".into()).await.expect("put");
        assert!(d.put_content("/f/below", "y".into()).await.is_err());
        assert!(d.put_content("/dir", "y".into()).await.is_err());
        let mut w = d.writer("/dir", false).await.expect("writer");
        w.write("y".into()).await.expect("write");
        assert!(w.commit().await.is_err());
        assert!(d.move_to("/f", "/dir").await.is_err());
        assert_eq!(d.get_content("/f").await.expect("get"), "file");
        assert_eq!(d.list("/").await.expect("list"), ["/dir", "/f"]);
        assert_eq!(d.list("/dir").await.expect("list"), ["/dir/x"]);

        // Directories move whole.
        d.move_to("/dir", "/moved/dir")
            .await
            .expect("move a directory");
        assert_eq!(d.get_content("/moved/dir/x").await.expect("get"), "x");
        assert!(d.stat("/dir").await.is_err());

        d.delete("/").await.expect("delete everything");
        assert_eq!(d.list("/").await.expect("list"), Vec::<String>::new());
        d.delete("/").await.expect("delete of an empty root");
    });
}

/// Clones share one store.
#[test]
fn clones_share_the_store() {
    runtime().block_on(async {
        let a = InMemoryDriver::new();
        let b = a.clone();
        a.put_content("/x", "1".into()).await.expect("put");
        assert_eq!(b.get_content("/x").await.expect("get"), "1");
        assert_eq!(b.name(), "inmemory");
    });
}
