//! Per-frame features for picking thumbnails out of video.
//!
//! The crate has no Python in it: `thumbsel-py` wraps it. Kernels take
//! checked, borrowed frames ([`Yuv420Frame`], [`RgbFrame`]) and never panic
//! on input; batches run on a rayon pool with one result per frame, in order,
//! so serial and parallel runs give identical output.

pub mod batch;
pub mod change;
pub mod color;
pub mod columns;
pub mod composition;
pub mod edges;
pub mod error;
pub mod features;
pub mod frame;
pub mod hash;
pub mod luma;
pub mod resize;
#[cfg(test)]
mod testing;

pub use batch::{
    after_fork_in_child, analyze_rgb_batch, analyze_yuv420_batch, configure_threads, fork_action, parallelism_disabled,
    set_parallelism_disabled, thread_count, BatchResult, ForkAction, THREADS_ENV,
};
pub use change::{frame_change, FrameChange, FrameSignature};
pub use columns::{Column, ColumnValue, Dtype, COLUMNS, FEATURES_VERSION};
pub use error::{CoreError, Result};
pub use features::{rgb_features, yuv420_features, FrameFeatures};
pub use frame::{ColorRange, ColorSpec, Matrix, RgbFrame, Yuv420Frame};
