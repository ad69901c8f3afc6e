//! Batches of frames scored in parallel, with the frame-to-frame signals
//! carried across batch boundaries.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, TryLockError};

use rayon::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::change::{frame_change, FrameChange, FrameSignature};
use crate::error::{CoreError, Result};
use crate::features::{rgb_features, yuv420_features, FrameFeatures};
use crate::frame::{ColorSpec, RgbFrame, Yuv420Frame};

/// Environment variable giving the number of worker threads per process.
pub const THREADS_ENV: &str = "THUMBSEL_THREADS";

static PARALLELISM_DISABLED: AtomicBool = AtomicBool::new(false);
/// Whether this process built the pool now in [`POOL`]. An atomic rather than
/// a look inside the mutex, so a forked child can ask without taking a lock
/// that a parent thread may have held at the fork.
static POOL_BUILT: AtomicBool = AtomicBool::new(false);
/// A forked child found [`POOL`] locked: the thread holding it stayed in the
/// parent, so the lock is never released here and must never be waited on.
static POOL_LOCK_ORPHANED: AtomicBool = AtomicBool::new(false);
static POOL: Mutex<Option<Arc<ThreadPool>>> = Mutex::new(None);

/// Turn parallel scoring off or on for this process.
pub fn set_parallelism_disabled(disabled: bool) {
    PARALLELISM_DISABLED.store(disabled, Ordering::SeqCst);
}

/// Whether scoring runs serially: switched off with
/// [`set_parallelism_disabled`], or by [`after_fork_in_child`].
#[must_use]
pub fn parallelism_disabled() -> bool {
    PARALLELISM_DISABLED.load(Ordering::SeqCst) || POOL_LOCK_ORPHANED.load(Ordering::SeqCst)
}

/// The worker count asked for in [`THREADS_ENV`], if it holds one.
fn threads_from_env() -> Option<usize> {
    std::env::var(THREADS_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
}

/// Use `threads` worker threads from now on (`None`: one per core, or the
/// `THUMBSEL_THREADS` environment variable when set).
///
/// # Errors
/// [`CoreError::ThreadPool`] when the threads cannot be started.
pub fn configure_threads(threads: Option<usize>) -> Result<usize> {
    if POOL_LOCK_ORPHANED.load(Ordering::SeqCst) {
        // Scoring is serial for good in this process (see `after_fork_in_child`).
        return Ok(1);
    }
    let wanted = threads
        .or_else(threads_from_env)
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    let mut slot = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(pool) = slot.as_ref() {
        if pool.current_num_threads() == wanted {
            return Ok(wanted);
        }
    }
    let pool = ThreadPoolBuilder::new()
        .num_threads(wanted)
        .thread_name(|i| format!("thumbsel-{i}"))
        .build()
        .map_err(|e| CoreError::ThreadPool {
            threads: wanted,
            reason: e.to_string(),
        })?;
    *slot = Some(Arc::new(pool));
    POOL_BUILT.store(true, Ordering::SeqCst);
    Ok(wanted)
}

fn pool() -> Result<Arc<ThreadPool>> {
    if let Some(pool) = POOL.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
        return Ok(Arc::clone(pool));
    }
    configure_threads(None)?;
    pool()
}

/// What a forked child does about the worker pool of its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkAction {
    /// No pool was built before the fork, so nothing is stale; the child
    /// builds its own pool on first use.
    Nothing,
    /// Forget the parent's pool and build a fresh one on first use: the user
    /// asked for [`THREADS_ENV`] threads in every process.
    FreshPool,
    /// Forget the parent's pool and score serially, so that N forked workers
    /// do not each start N threads.
    Serial,
}

/// The decision [`after_fork_in_child`] makes, as a pure function of whether
/// the parent had built its pool and whether [`THREADS_ENV`] is set.
///
/// # Example
/// ```
/// use thumbsel_core::batch::{fork_action, ForkAction};
/// assert_eq!(fork_action(false, false), ForkAction::Nothing);
/// assert_eq!(fork_action(true, false), ForkAction::Serial);
/// assert_eq!(fork_action(true, true), ForkAction::FreshPool);
/// ```
#[must_use]
pub fn fork_action(pool_built: bool, threads_env_set: bool) -> ForkAction {
    match (pool_built, threads_env_set) {
        (false, _) => ForkAction::Nothing,
        (true, true) => ForkAction::FreshPool,
        (true, false) => ForkAction::Serial,
    }
}

/// Make scoring safe in a child process right after `fork()`; call it there
/// only (Python: `os.register_at_fork(after_in_child=...)`). A pool's threads
/// exist only in the process that built them, so the parent's pool is
/// abandoned, and parallelism stays on only if [`THREADS_ENV`] asks for it.
/// Never blocks. Returns what was done.
pub fn after_fork_in_child() -> ForkAction {
    apply_fork_action(fork_action(
        POOL_BUILT.load(Ordering::SeqCst),
        threads_from_env().is_some(),
    ))
}

fn apply_fork_action(action: ForkAction) -> ForkAction {
    if action == ForkAction::Nothing {
        return action;
    }
    // Dropping the handle would signal the parent's threads through state
    // they may have held locked at the fork: leak it instead. A lock held at
    // the fork is never released, so do not wait for it.
    let abandoned = match POOL.try_lock() {
        Ok(mut slot) => {
            std::mem::forget(slot.take());
            true
        }
        Err(TryLockError::Poisoned(poisoned)) => {
            std::mem::forget(poisoned.into_inner().take());
            true
        }
        Err(TryLockError::WouldBlock) => false,
    };
    POOL_BUILT.store(false, Ordering::SeqCst);
    if !abandoned {
        POOL_LOCK_ORPHANED.store(true, Ordering::SeqCst);
        return ForkAction::Serial;
    }
    if action == ForkAction::Serial {
        set_parallelism_disabled(true);
    }
    action
}

/// Number of worker threads scoring uses now.
///
/// # Errors
/// [`CoreError::ThreadPool`] when the default pool cannot be started.
pub fn thread_count() -> Result<usize> {
    if parallelism_disabled() {
        return Ok(1);
    }
    Ok(pool()?.current_num_threads())
}

/// Map `f` over `items` on the worker pool, or serially when parallelism is
/// off or the pool has one thread. Results keep the input order either way.
fn map_frames<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync + Send) -> Result<Vec<R>> {
    if parallelism_disabled() || items.len() < 2 {
        return Ok(items.iter().map(f).collect());
    }
    let pool = pool()?;
    if pool.current_num_threads() == 1 {
        return Ok(items.iter().map(f).collect());
    }
    Ok(pool.install(|| items.par_iter().map(f).collect()))
}

/// Features and changes of a batch, and the signature to carry into the next.
#[derive(Debug, Clone, Default)]
pub struct BatchResult {
    pub features: Vec<FrameFeatures>,
    /// `None` for the first frame of a stream (nothing to compare with).
    pub changes: Vec<Option<FrameChange>>,
    pub last: Option<FrameSignature>,
}

fn finish(analysed: Vec<(FrameFeatures, FrameSignature)>, previous: Option<&FrameSignature>) -> Result<BatchResult> {
    let (features, signatures): (Vec<_>, Vec<_>) = analysed.into_iter().unzip();
    let indices: Vec<usize> = (0..signatures.len()).collect();
    let changes = map_frames(&indices, |&i| {
        let before = if i == 0 { previous } else { Some(&signatures[i - 1]) };
        before.map(|b| frame_change(b, &signatures[i]))
    })?;
    let last = signatures.into_iter().last().or_else(|| previous.cloned());
    Ok(BatchResult {
        features,
        changes,
        last,
    })
}

fn check_same_size(sizes: impl Iterator<Item = (usize, usize)>) -> Result<()> {
    let mut first = None;
    for (index, (width, height)) in sizes.enumerate() {
        let (batch_width, batch_height) = *first.get_or_insert((width, height));
        if (width, height) != (batch_width, batch_height) {
            return Err(CoreError::MixedSizes {
                index,
                width,
                height,
                batch_width,
                batch_height,
            });
        }
    }
    Ok(())
}

/// Score a batch of 4:2:0 frames in parallel.
///
/// # Errors
/// [`CoreError::MixedSizes`] for frames of different sizes, or a pool error.
pub fn analyze_yuv420_batch(
    frames: &[Yuv420Frame<'_>],
    spec: ColorSpec,
    previous: Option<&FrameSignature>,
) -> Result<BatchResult> {
    check_same_size(frames.iter().map(|f| (f.width(), f.height())))?;
    let analysed = map_frames(frames, |f| yuv420_features(f, spec))?;
    finish(analysed, previous)
}

/// Score a batch of RGB frames in parallel.
///
/// # Errors
/// [`CoreError::MixedSizes`] for frames of different sizes, or a pool error.
pub fn analyze_rgb_batch(frames: &[RgbFrame<'_>], previous: Option<&FrameSignature>) -> Result<BatchResult> {
    check_same_size(frames.iter().map(|f| (f.width(), f.height())))?;
    let analysed = map_frames(frames, rgb_features)?;
    finish(analysed, previous)
}

#[cfg(test)]
mod tests {
    use std::sync::MutexGuard;

    use super::*;
    use crate::columns::{ColumnValue, COLUMNS};
    use crate::frame::{ColorRange, Matrix};
    use crate::testing::{noise, YuvPlanes};

    /// Tests that assert on the process-wide pool and serial switch take this
    /// lock, so they do not see each other's settings.
    static GLOBAL_STATE: Mutex<()> = Mutex::new(());

    fn exclusive() -> MutexGuard<'static, ()> {
        GLOBAL_STATE.lock().unwrap_or_else(PoisonError::into_inner)
    }

    const SPEC: ColorSpec = ColorSpec {
        range: ColorRange::Limited,
        matrix: Matrix::Bt601,
    };

    fn distinct_frames(n: usize, width: usize, height: usize) -> Vec<YuvPlanes> {
        (0..n)
            .map(|i| YuvPlanes::textured(width, height, 17 * i as u64 + 3))
            .collect()
    }

    /// Every value of every column of a batch as raw bits (`None`: a null change).
    fn bits(result: &BatchResult) -> Vec<Option<u64>> {
        let mut out = Vec::new();
        for (features, change) in result.features.iter().zip(&result.changes) {
            for column in COLUMNS {
                match column.value {
                    ColumnValue::F64(get) => out.push(Some(get(features).to_bits())),
                    ColumnValue::U64(get) => out.push(Some(get(features))),
                    ColumnValue::I32(get) => out.push(Some(u64::from(get(features) as u32))),
                    ColumnValue::Histogram(get) => {
                        out.extend(get(features).iter().map(|v| Some(u64::from(v.to_bits()))));
                    }
                    ColumnValue::Change(get) => out.push(change.as_ref().map(|c| get(c).to_bits())),
                }
            }
        }
        out
    }

    #[test]
    fn serial_and_parallel_agree_bit_for_bit() {
        let _state = exclusive();
        let planes = distinct_frames(12, 37, 23);
        let frames: Vec<_> = planes.iter().map(YuvPlanes::frame).collect();
        let rgb: Vec<Vec<u8>> = (0..12).map(|i| noise(29 * 19 * 3, i)).collect();
        let rgb_frames: Vec<_> = rgb.iter().map(|d| RgbFrame::new(d, 29, 19).unwrap()).collect();
        let run = || {
            (
                bits(&analyze_yuv420_batch(&frames, SPEC, None).unwrap()),
                bits(&analyze_rgb_batch(&rgb_frames, None).unwrap()),
            )
        };

        set_parallelism_disabled(true);
        assert_eq!(thread_count().unwrap(), 1);
        let serial = run();
        set_parallelism_disabled(false);
        assert_eq!(configure_threads(Some(1)).unwrap(), 1);
        let one_thread = run();
        assert_eq!(configure_threads(Some(3)).unwrap(), 3);
        assert_eq!(thread_count().unwrap(), 3);
        let three_threads = run();

        assert_eq!(serial, one_thread);
        assert_eq!(serial, three_threads);
        let result = analyze_yuv420_batch(&frames, SPEC, None).unwrap();
        assert_eq!(result.features.len(), 12);
        assert!(result.changes[0].is_none() && result.changes[1..].iter().all(Option::is_some));
        // The frames differ, so an order mix-up between threads would show.
        assert!(result.features.windows(2).all(|w| w[0] != w[1]));
    }

    #[test]
    fn frames_of_different_sizes_are_refused() {
        let a = YuvPlanes::textured(16, 8, 1);
        let b = YuvPlanes::textured(16, 9, 2);
        let error = analyze_yuv420_batch(&[a.frame(), a.frame(), b.frame()], SPEC, None).unwrap_err();
        assert_eq!(
            error,
            CoreError::MixedSizes {
                index: 2,
                width: 16,
                height: 9,
                batch_width: 16,
                batch_height: 8,
            }
        );
        let (small, large) = (noise(4 * 4 * 3, 1), noise(5 * 4 * 3, 2));
        let frames = [
            RgbFrame::new(&small, 4, 4).unwrap(),
            RgbFrame::new(&large, 5, 4).unwrap(),
        ];
        assert!(matches!(
            analyze_rgb_batch(&frames, None),
            Err(CoreError::MixedSizes { index: 1, width: 5, .. })
        ));
    }

    #[test]
    fn changes_carry_across_batches() {
        let planes = distinct_frames(7, 41, 27);
        let frames: Vec<_> = planes.iter().map(YuvPlanes::frame).collect();
        let whole = analyze_yuv420_batch(&frames, SPEC, None).unwrap();
        let first = analyze_yuv420_batch(&frames[..4], SPEC, None).unwrap();
        let second = analyze_yuv420_batch(&frames[4..], SPEC, first.last.as_ref()).unwrap();

        let mut joined = first.clone();
        joined.features.extend(second.features.iter().cloned());
        joined.changes.extend(second.changes.iter().copied());
        assert_eq!(bits(&joined), bits(&whole));
        assert!(second.changes[0].is_some());
        assert_eq!(second.changes[0], whole.changes[4]);

        // An empty batch keeps the signature to compare the next frame with.
        let empty = analyze_yuv420_batch(&[], SPEC, second.last.as_ref()).unwrap();
        assert!(empty.features.is_empty() && empty.changes.is_empty());
        let more = YuvPlanes::textured(41, 27, 99);
        let after_empty = analyze_yuv420_batch(&[more.frame()], SPEC, empty.last.as_ref()).unwrap();
        let direct = analyze_yuv420_batch(&[more.frame()], SPEC, second.last.as_ref()).unwrap();
        assert!(after_empty.changes[0].is_some());
        assert_eq!(after_empty.changes, direct.changes);
    }

    #[test]
    fn fork_decision() {
        assert_eq!(fork_action(false, false), ForkAction::Nothing);
        assert_eq!(fork_action(false, true), ForkAction::Nothing);
        assert_eq!(fork_action(true, false), ForkAction::Serial);
        assert_eq!(fork_action(true, true), ForkAction::FreshPool);
    }

    #[test]
    fn an_abandoned_pool_is_leaked_and_a_fresh_one_built_on_use() {
        let _state = exclusive();
        set_parallelism_disabled(false);
        configure_threads(Some(2)).unwrap();
        assert!(POOL_BUILT.load(Ordering::SeqCst));
        let stale = Arc::downgrade(&pool().unwrap());

        assert_eq!(apply_fork_action(fork_action(true, true)), ForkAction::FreshPool);
        assert!(!POOL_BUILT.load(Ordering::SeqCst));
        assert!(POOL.lock().unwrap().is_none());
        assert!(!parallelism_disabled());
        // Forgotten, not dropped: its destructor would touch the parent's threads.
        let stale = stale.upgrade().expect("the abandoned pool was not dropped");

        let planes = distinct_frames(4, 20, 14);
        let frames: Vec<_> = planes.iter().map(YuvPlanes::frame).collect();
        let parallel = bits(&analyze_yuv420_batch(&frames, SPEC, None).unwrap());
        assert!(POOL_BUILT.load(Ordering::SeqCst));
        let fresh = pool().unwrap();
        assert!(!Arc::ptr_eq(&fresh, &stale));
        set_parallelism_disabled(true);
        assert_eq!(parallel, bits(&analyze_yuv420_batch(&frames, SPEC, None).unwrap()));
        set_parallelism_disabled(false);
    }

    #[test]
    fn a_child_without_a_thread_count_scores_serially() {
        let _state = exclusive();
        set_parallelism_disabled(false);
        configure_threads(Some(2)).unwrap();
        assert_eq!(apply_fork_action(fork_action(true, false)), ForkAction::Serial);
        assert!(parallelism_disabled());
        assert_eq!(thread_count().unwrap(), 1);
        assert!(POOL.lock().unwrap().is_none());
        // A grandchild forked now has no pool to abandon, and changes nothing.
        assert_eq!(
            fork_action(POOL_BUILT.load(Ordering::SeqCst), false),
            ForkAction::Nothing
        );
        set_parallelism_disabled(false);
        assert_eq!(apply_fork_action(ForkAction::Nothing), ForkAction::Nothing);
        assert!(!parallelism_disabled());
    }

    #[test]
    fn a_pool_lock_held_at_the_fork_is_never_waited_on() {
        let _state = exclusive();
        set_parallelism_disabled(false);
        configure_threads(Some(2)).unwrap();
        // Held by "another thread" at the fork: in the child it stays locked.
        let held = POOL.lock().unwrap();
        assert_eq!(apply_fork_action(ForkAction::FreshPool), ForkAction::Serial);
        assert!(parallelism_disabled());
        assert_eq!(thread_count().unwrap(), 1);
        assert_eq!(configure_threads(Some(4)).unwrap(), 1);
        set_parallelism_disabled(false);
        assert!(parallelism_disabled(), "serial for good once the lock is lost");
        let planes = distinct_frames(3, 12, 10);
        let frames: Vec<_> = planes.iter().map(YuvPlanes::frame).collect();
        assert_eq!(analyze_yuv420_batch(&frames, SPEC, None).unwrap().features.len(), 3);
        // A real child never gets the lock back; this process does, for the other tests.
        drop(held);
        POOL_LOCK_ORPHANED.store(false, Ordering::SeqCst);
        POOL_BUILT.store(true, Ordering::SeqCst);
    }
}
