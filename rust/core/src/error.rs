//! Errors of the core crate.

use thiserror::Error;

/// Everything that can go wrong inside the core. Kernels never panic on bad
/// input: every shape problem is reported here before any pixel is read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// A frame has a zero width or height.
    #[error("frame is empty: {width}x{height}")]
    EmptyFrame { width: usize, height: usize },

    /// A frame is larger than the kernels' integer accumulators are sized for.
    #[error("frame of {width}x{height} is larger than the supported {max}x{max}")]
    FrameTooLarge { width: usize, height: usize, max: usize },

    /// A plane's buffer does not hold exactly the pixels its shape promises.
    #[error("{plane} plane has {actual} bytes, expected {expected} for a {width}x{height} frame")]
    PlaneSize {
        plane: &'static str,
        expected: usize,
        actual: usize,
        width: usize,
        height: usize,
    },

    /// Frames within one batch must share their size.
    #[error("frame {index} is {width}x{height}, but the batch is {batch_width}x{batch_height}")]
    MixedSizes {
        index: usize,
        width: usize,
        height: usize,
        batch_width: usize,
        batch_height: usize,
    },

    /// The worker pool could not be built (for example, threads could not be spawned).
    #[error("could not start {threads} worker threads: {reason}")]
    ThreadPool { threads: usize, reason: String },
}

/// Result alias of the core crate.
pub type Result<T> = std::result::Result<T, CoreError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_well() {
        let message = |e: CoreError| e.to_string();
        assert_eq!(
            message(CoreError::EmptyFrame { width: 0, height: 720 }),
            "frame is empty: 0x720"
        );
        assert_eq!(
            message(CoreError::FrameTooLarge {
                width: 40_000,
                height: 10,
                max: 32_768
            }),
            "frame of 40000x10 is larger than the supported 32768x32768"
        );
        assert_eq!(
            message(CoreError::PlaneSize {
                plane: "U",
                expected: 6,
                actual: 4,
                width: 5,
                height: 3
            }),
            "U plane has 4 bytes, expected 6 for a 5x3 frame"
        );
        assert_eq!(
            message(CoreError::MixedSizes {
                index: 3,
                width: 640,
                height: 360,
                batch_width: 1280,
                batch_height: 720
            }),
            "frame 3 is 640x360, but the batch is 1280x720"
        );
        assert_eq!(
            message(CoreError::ThreadPool {
                threads: 8,
                reason: "resource temporarily unavailable".into()
            }),
            "could not start 8 worker threads: resource temporarily unavailable"
        );
    }
}
