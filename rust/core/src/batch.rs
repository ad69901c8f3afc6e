//! Batches of frames scored in parallel, with the frame-to-frame signals
//! carried across batch boundaries.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::change::{frame_change, FrameChange, FrameSignature};
use crate::error::{CoreError, Result};
use crate::features::{rgb_features, yuv420_features, FrameFeatures};
use crate::frame::{ColorSpec, RgbFrame, Yuv420Frame};

static PARALLELISM_DISABLED: AtomicBool = AtomicBool::new(false);
static POOL: Mutex<Option<Arc<ThreadPool>>> = Mutex::new(None);

/// Turn parallel scoring off or on for this process. A forked child must call
/// this with `true` before scoring: the parent's worker threads do not exist
/// in the child, and waiting on them would hang.
pub fn set_parallelism_disabled(disabled: bool) {
    PARALLELISM_DISABLED.store(disabled, Ordering::SeqCst);
}

/// Whether scoring runs serially.
#[must_use]
pub fn parallelism_disabled() -> bool {
    PARALLELISM_DISABLED.load(Ordering::SeqCst)
}

/// Use `threads` worker threads from now on (`None`: one per core, or the
/// `THUMBSEL_THREADS` environment variable when set).
///
/// # Errors
/// [`CoreError::ThreadPool`] when the threads cannot be started.
pub fn configure_threads(threads: Option<usize>) -> Result<usize> {
    let wanted = threads
        .or_else(|| std::env::var("THUMBSEL_THREADS").ok().and_then(|v| v.parse().ok()))
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    let mut slot = POOL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
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
    Ok(wanted)
}

fn pool() -> Result<Arc<ThreadPool>> {
    if let Some(pool) = POOL.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref() {
        return Ok(Arc::clone(pool));
    }
    configure_threads(None)?;
    pool()
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
