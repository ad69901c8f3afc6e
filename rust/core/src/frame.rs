//! Borrowed views of decoded frames, checked once so kernels can index freely.

use crate::error::{CoreError, Result};

/// Largest width or height accepted. Row accumulators are `u32`; this bound
/// keeps every per-row and per-column sum far from overflow.
pub const MAX_DIMENSION: usize = 1 << 15;

/// How the 8-bit luma/chroma codes map to light levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorRange {
    /// "TV"/MPEG range: luma 16..=235, chroma 16..=240. Most video.
    #[default]
    Limited,
    /// "PC"/JPEG range: 0..=255 for every plane.
    Full,
}

/// The YCbCr matrix used to turn chroma back into RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Matrix {
    /// ITU-R BT.601 (SD video, JPEG).
    Bt601,
    /// ITU-R BT.709 (HD video).
    #[default]
    Bt709,
}

/// Colour interpretation of a YUV frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ColorSpec {
    pub range: ColorRange,
    pub matrix: Matrix,
}

fn check_dimensions(width: usize, height: usize) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(CoreError::EmptyFrame { width, height });
    }
    if width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(CoreError::FrameTooLarge {
            width,
            height,
            max: MAX_DIMENSION,
        });
    }
    Ok(())
}

fn check_plane(plane: &'static str, data: &[u8], expected: usize, width: usize, height: usize) -> Result<()> {
    if data.len() == expected {
        Ok(())
    } else {
        Err(CoreError::PlaneSize {
            plane,
            expected,
            actual: data.len(),
            width,
            height,
        })
    }
}

/// A planar 4:2:0 frame (`yuv420p`): full-size luma, chroma planes of
/// `ceil(width / 2) x ceil(height / 2)`, all rows packed without padding.
#[derive(Debug, Clone, Copy)]
pub struct Yuv420Frame<'a> {
    y: &'a [u8],
    u: &'a [u8],
    v: &'a [u8],
    width: usize,
    height: usize,
}

impl<'a> Yuv420Frame<'a> {
    /// Checks that the planes match the size.
    ///
    /// # Errors
    /// [`CoreError::EmptyFrame`], [`CoreError::FrameTooLarge`] or
    /// [`CoreError::PlaneSize`] when the buffers do not describe such a frame.
    ///
    /// # Example
    /// ```
    /// use thumbsel_core::Yuv420Frame;
    /// let y = vec![16u8; 4 * 3];
    /// let chroma = vec![128u8; 2 * 2];
    /// let frame = Yuv420Frame::new(&y, &chroma, &chroma, 4, 3).unwrap();
    /// assert_eq!(frame.chroma_size(), (2, 2));
    /// assert!(Yuv420Frame::new(&y, &chroma, &chroma, 5, 3).is_err());
    /// ```
    pub fn new(y: &'a [u8], u: &'a [u8], v: &'a [u8], width: usize, height: usize) -> Result<Self> {
        check_dimensions(width, height)?;
        check_plane("Y", y, width * height, width, height)?;
        let (cw, ch) = chroma_size(width, height);
        check_plane("U", u, cw * ch, width, height)?;
        check_plane("V", v, cw * ch, width, height)?;
        Ok(Self { y, u, v, width, height })
    }

    #[must_use]
    pub fn width(&self) -> usize {
        self.width
    }

    #[must_use]
    pub fn height(&self) -> usize {
        self.height
    }

    #[must_use]
    pub fn luma(&self) -> &'a [u8] {
        self.y
    }

    #[must_use]
    pub fn cb(&self) -> &'a [u8] {
        self.u
    }

    #[must_use]
    pub fn cr(&self) -> &'a [u8] {
        self.v
    }

    /// Size of each chroma plane.
    #[must_use]
    pub fn chroma_size(&self) -> (usize, usize) {
        chroma_size(self.width, self.height)
    }
}

/// Chroma plane size of a 4:2:0 frame (rounded up, as FFmpeg does).
#[must_use]
pub fn chroma_size(width: usize, height: usize) -> (usize, usize) {
    (width.div_ceil(2), height.div_ceil(2))
}

/// An interleaved 8-bit RGB frame (`rgb24`), rows packed without padding.
#[derive(Debug, Clone, Copy)]
pub struct RgbFrame<'a> {
    data: &'a [u8],
    width: usize,
    height: usize,
}

impl<'a> RgbFrame<'a> {
    /// Checks that the buffer holds `width * height * 3` bytes.
    ///
    /// # Errors
    /// [`CoreError::EmptyFrame`], [`CoreError::FrameTooLarge`] or [`CoreError::PlaneSize`].
    pub fn new(data: &'a [u8], width: usize, height: usize) -> Result<Self> {
        check_dimensions(width, height)?;
        check_plane("RGB", data, width * height * 3, width, height)?;
        Ok(Self { data, width, height })
    }

    #[must_use]
    pub fn width(&self) -> usize {
        self.width
    }

    #[must_use]
    pub fn height(&self) -> usize {
        self.height
    }

    #[must_use]
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
}
