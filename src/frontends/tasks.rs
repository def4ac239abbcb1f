//! Background work a front end started (a Slack answer, a Telegram reply), counted so that
//! shutdown can wait for it, up to a grace period.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

#[derive(Default, Clone)]
pub struct Tasks {
    inner: Arc<(AtomicUsize, Notify)>,
}

/// Counts one task down when it ends, however it ends.
struct Running(Arc<(AtomicUsize, Notify)>);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.0.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.1.notify_waiters();
        }
    }
}

impl Tasks {
    pub fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        self.inner.0.fetch_add(1, Ordering::SeqCst);
        let running = Running(Arc::clone(&self.inner));
        tokio::spawn(async move {
            let _running = running;
            work.await;
        });
    }

    pub fn running(&self) -> usize {
        self.inner.0.load(Ordering::SeqCst)
    }

    /// Waits until no task runs, or `grace` passes; true when all ended.
    pub async fn wait(&self, grace: Duration) -> bool {
        let all_done = async {
            loop {
                let notified = self.inner.1.notified();
                if self.running() == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(grace, all_done).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_running_tasks_up_to_the_grace() {
        let tasks = Tasks::default();
        tasks.spawn(async { tokio::time::sleep(Duration::from_millis(50)).await });
        assert_eq!(tasks.running(), 1);
        assert!(tasks.wait(Duration::from_secs(5)).await);
        assert_eq!(tasks.running(), 0);
        tasks.spawn(async { tokio::time::sleep(Duration::from_secs(60)).await });
        assert!(!tasks.wait(Duration::from_millis(50)).await);
    }
}
