//! The two wake-up primitives the loops share, on `std` alone so that
//! they work under any runtime: a [`Signal`] for one waiting task, a
//! [`WakerSet`] for many, and a [`oneshot`] built on the first.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// Locks `mutex`; a panic elsewhere while holding it leaves data whose
/// every method restored its invariants before it could panic, so
/// poisoning is ignored.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A wake-up for one waiting task, remembered until it is taken (tokio's
/// `Notify::notify_one` with a single waiter). Taking a pending wake-up
/// needs no lock.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    notified: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Signal {
    /// Wakes the waiting task, or the next one to wait.
    pub(crate) fn notify(&self) {
        self.notified.store(true, Ordering::Release);
        let waker = lock(&self.waker).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// `Ready` (and the notification taken) if [`notify`](Self::notify)
    /// was called since the last time.
    pub(crate) fn poll_notified(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.notified.swap(false, Ordering::Acquire) {
            return Poll::Ready(());
        }
        {
            let mut waker = lock(&self.waker);
            match &mut *waker {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
        }
        // A notification between the first look and the registration
        // found no waker: look again.
        if self.notified.swap(false, Ordering::Acquire) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// Tasks waiting for the same thing, all woken at once.
#[derive(Debug, Default)]
pub(crate) struct WakerSet(Vec<Waker>);

impl WakerSet {
    /// Adds the context's task (once).
    pub(crate) fn register(&mut self, cx: &Context<'_>) {
        if !self.0.iter().any(|waker| waker.will_wake(cx.waker())) {
            self.0.push(cx.waker().clone());
        }
    }

    /// Wakes every task and forgets them.
    pub(crate) fn wake_all(&mut self) {
        for waker in self.0.drain(..) {
            waker.wake();
        }
    }
}

/// One value from one thread or task to another.
pub(crate) fn oneshot<T>() -> (OneshotSender<T>, OneshotReceiver<T>) {
    let inner = Arc::new(Oneshot {
        value: Mutex::new((None, false)),
        signal: Signal::default(),
    });
    (OneshotSender(inner.clone()), OneshotReceiver(inner))
}

struct Oneshot<T> {
    /// The value, and whether the sender is gone.
    value: Mutex<(Option<T>, bool)>,
    signal: Signal,
}

/// The sending side of a [`oneshot`]; dropping it unused ends the wait.
pub(crate) struct OneshotSender<T>(Arc<Oneshot<T>>);

/// The receiving side of a [`oneshot`].
pub(crate) struct OneshotReceiver<T>(Arc<Oneshot<T>>);

impl<T> OneshotSender<T> {
    /// Hands `value` over.
    pub(crate) fn send(self, value: T) {
        lock(&self.0.value).0 = Some(value);
    }
}

impl<T> Drop for OneshotSender<T> {
    fn drop(&mut self) {
        lock(&self.0.value).1 = true;
        self.0.signal.notify();
    }
}

impl<T> OneshotReceiver<T> {
    /// The value, or `None` if the sender was dropped without one.
    pub(crate) async fn recv(self) -> Option<T> {
        poll_fn(|cx| {
            loop {
                {
                    let mut value = lock(&self.0.value);
                    if let Some(value) = value.0.take() {
                        return Poll::Ready(Some(value));
                    }
                    if value.1 {
                        return Poll::Ready(None);
                    }
                }
                // The sender's drop notifies after storing: look again.
                std::task::ready!(self.0.signal.poll_notified(cx));
            }
        })
        .await
    }
}

impl<T> std::fmt::Debug for OneshotSender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneshotSender")
    }
}

/// A waker that counts its wake-ups, for the tests of the wake-up paths.
#[cfg(test)]
pub(crate) mod counting {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    /// How often the waker was woken.
    pub(crate) struct Count(AtomicUsize);

    impl Count {
        pub(crate) fn get(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A fresh waker and its count.
    pub(crate) fn waker() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_remembers_one_notification() {
        let (count, waker) = counting::waker();
        let mut cx = Context::from_waker(&waker);
        let signal = Signal::default();
        assert!(signal.poll_notified(&mut cx).is_pending());
        signal.notify();
        signal.notify();
        assert_eq!(count.get(), 1);
        assert!(signal.poll_notified(&mut cx).is_ready());
        assert!(signal.poll_notified(&mut cx).is_pending());
    }

    #[test]
    fn a_waker_set_wakes_each_task_once() {
        let (count, waker) = counting::waker();
        let cx = Context::from_waker(&waker);
        let mut set = WakerSet::default();
        set.register(&cx);
        set.register(&cx);
        set.wake_all();
        set.wake_all();
        assert_eq!(count.get(), 1);
    }
}
