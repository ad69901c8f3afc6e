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

/// One 8-bit image plane: `height` rows of `width` bytes, each row starting
/// `stride` bytes after the previous one. Decoders pad rows (FFmpeg aligns
/// them to 32 or 64 bytes), so reading their buffers in place needs a stride.
#[derive(Debug, Clone, Copy)]
pub struct Plane<'a> {
    data: &'a [u8],
    width: usize,
    height: usize,
    stride: usize,
}

impl<'a> Plane<'a> {
    /// A plane whose rows are `stride` bytes apart.
    ///
    /// # Errors
    /// [`CoreError::EmptyFrame`], [`CoreError::FrameTooLarge`], or
    /// [`CoreError::PlaneSize`] when the buffer is too short for the rows or
    /// the stride is shorter than a row.
    ///
    /// # Example
    /// ```
    /// use thumbsel_core::frame::Plane;
    /// let padded = [1u8, 2, 0, 0, 3, 4];
    /// let plane = Plane::new("Y", &padded, 2, 2, 4).unwrap();
    /// assert_eq!(plane.row(1), &[3, 4]);
    /// assert!(Plane::new("Y", &padded, 2, 2, 1).is_err());
    /// ```
    pub fn new(name: &'static str, data: &'a [u8], width: usize, height: usize, stride: usize) -> Result<Self> {
        check_dimensions(width, height)?;
        let needed = (height - 1) * stride + width;
        if stride < width || data.len() < needed {
            return Err(CoreError::PlaneSize {
                plane: name,
                expected: needed.max(width * height),
                actual: data.len(),
                width,
                height,
            });
        }
        Ok(Self {
            data,
            width,
            height,
            stride,
        })
    }

    /// A plane whose rows follow each other without padding.
    ///
    /// # Errors
    /// As [`Plane::new`], and when the buffer is longer than the rows.
    pub fn packed(name: &'static str, data: &'a [u8], width: usize, height: usize) -> Result<Self> {
        check_dimensions(width, height)?;
        check_plane(name, data, width * height, width, height)?;
        Self::new(name, data, width, height, width)
    }

    /// Row `y` (its `width` bytes, without padding).
    #[inline]
    #[must_use]
    pub fn row(&self, y: usize) -> &'a [u8] {
        let start = y * self.stride;
        &self.data[start..start + self.width]
    }

    #[must_use]
    pub fn width(&self) -> usize {
        self.width
    }

    #[must_use]
    pub fn height(&self) -> usize {
        self.height
    }
}

/// A planar 4:2:0 frame (`yuv420p`): full-size luma and chroma planes of
/// `ceil(width / 2) x ceil(height / 2)`.
#[derive(Debug, Clone, Copy)]
pub struct Yuv420Frame<'a> {
    y: Plane<'a>,
    u: Plane<'a>,
    v: Plane<'a>,
}

impl<'a> Yuv420Frame<'a> {
    /// A frame from packed planes (rows without padding).
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
        let (cw, ch) = chroma_size(width, height);
        Self::from_planes(
            Plane::packed("Y", y, width, height)?,
            Plane::packed("U", u, cw, ch)?,
            Plane::packed("V", v, cw, ch)?,
        )
    }

    /// A frame from planes that may have padded rows, as decoders hand them out.
    ///
    /// # Errors
    /// [`CoreError::PlaneSize`] when the chroma planes are not the 4:2:0 size of the luma plane.
    pub fn from_planes(y: Plane<'a>, u: Plane<'a>, v: Plane<'a>) -> Result<Self> {
        let (width, height) = (y.width(), y.height());
        let (cw, ch) = chroma_size(width, height);
        for (name, plane) in [("U", &u), ("V", &v)] {
            if (plane.width(), plane.height()) != (cw, ch) {
                return Err(CoreError::PlaneSize {
                    plane: name,
                    expected: cw * ch,
                    actual: plane.width() * plane.height(),
                    width,
                    height,
                });
            }
        }
        Ok(Self { y, u, v })
    }

    #[must_use]
    pub fn width(&self) -> usize {
        self.y.width()
    }

    #[must_use]
    pub fn height(&self) -> usize {
        self.y.height()
    }

    #[must_use]
    pub fn luma(&self) -> Plane<'a> {
        self.y
    }

    #[must_use]
    pub fn cb(&self) -> Plane<'a> {
        self.u
    }

    #[must_use]
    pub fn cr(&self) -> Plane<'a> {
        self.v
    }

    /// Size of each chroma plane.
    #[must_use]
    pub fn chroma_size(&self) -> (usize, usize) {
        chroma_size(self.width(), self.height())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chroma_of_odd_sizes_rounds_up() {
        assert_eq!(chroma_size(1, 1), (1, 1));
        assert_eq!(chroma_size(2, 2), (1, 1));
        assert_eq!(chroma_size(3, 5), (2, 3));
        assert_eq!(chroma_size(1920, 1080), (960, 540));
        assert_eq!(chroma_size(1, 300), (1, 150));
        let (y, c) = (vec![0u8; 3 * 5], vec![0u8; 2 * 3]);
        assert_eq!(Yuv420Frame::new(&y, &c, &c, 3, 5).unwrap().chroma_size(), (2, 3));
    }

    #[test]
    fn planes_must_hold_exactly_their_pixels() {
        let (y, c) = (vec![0u8; 4 * 3], vec![0u8; 2 * 2]);
        assert!(Yuv420Frame::new(&y, &c, &c, 4, 3).is_ok());
        assert_eq!(
            Yuv420Frame::new(&y, &c[..3], &c, 4, 3).unwrap_err(),
            CoreError::PlaneSize {
                plane: "U",
                expected: 4,
                actual: 3,
                width: 2,
                height: 2,
            }
        );
        let long = vec![0u8; 5];
        assert!(matches!(
            Yuv420Frame::new(&y, &c, &long, 4, 3),
            Err(CoreError::PlaneSize {
                plane: "V",
                actual: 5,
                ..
            })
        ));
        assert!(matches!(
            Yuv420Frame::new(&y[1..], &c, &c, 4, 3),
            Err(CoreError::PlaneSize {
                plane: "Y",
                actual: 11,
                ..
            })
        ));
        assert!(RgbFrame::new(&[0; 12], 2, 2).is_ok());
        assert!(matches!(
            RgbFrame::new(&[0; 11], 2, 2),
            Err(CoreError::PlaneSize {
                plane: "RGB",
                expected: 12,
                ..
            })
        ));
        assert!(Plane::packed("Y", &[0; 7], 3, 2).is_err());
    }

    #[test]
    fn chroma_planes_must_be_the_420_size_of_luma() {
        let y = [0u8; 4 * 4];
        let c = [0u8; 2 * 2];
        let luma = Plane::packed("Y", &y, 4, 4).unwrap();
        let chroma = Plane::packed("U", &c, 2, 2).unwrap();
        let wrong = Plane::packed("V", &c, 4, 1).unwrap();
        assert!(Yuv420Frame::from_planes(luma, chroma, chroma).is_ok());
        assert_eq!(
            Yuv420Frame::from_planes(luma, chroma, wrong).unwrap_err(),
            CoreError::PlaneSize {
                plane: "V",
                expected: 4,
                actual: 4,
                width: 4,
                height: 4,
            }
        );
    }

    #[test]
    fn strides_shorter_than_a_row_are_refused() {
        let data = [0u8; 64];
        assert!(matches!(
            Plane::new("Y", &data, 8, 2, 7),
            Err(CoreError::PlaneSize { plane: "Y", .. })
        ));
        // The last row needs no padding after it.
        let padded = Plane::new("Y", &data[..(3 - 1) * 10 + 8], 8, 3, 10).unwrap();
        assert_eq!(padded.row(2).len(), 8);
        assert!(Plane::new("Y", &data[..(3 - 1) * 10 + 7], 8, 3, 10).is_err());
    }

    #[test]
    fn padding_is_skipped() {
        let data = [1, 2, 3, 99, 4, 5, 6, 99, 7, 8, 9];
        let plane = Plane::new("Y", &data, 3, 3, 4).unwrap();
        let rows: Vec<&[u8]> = (0..3).map(|y| plane.row(y)).collect();
        assert_eq!(rows, [&[1, 2, 3][..], &[4, 5, 6], &[7, 8, 9]]);
        assert_eq!((plane.width(), plane.height()), (3, 3));
    }

    #[test]
    fn empty_and_oversized_frames_are_refused() {
        for (w, h) in [(0, 4), (4, 0), (0, 0)] {
            let error = CoreError::EmptyFrame { width: w, height: h };
            assert_eq!(Plane::new("Y", &[0; 16], w, h, 4).unwrap_err(), error);
            assert_eq!(Yuv420Frame::new(&[], &[], &[], w, h).unwrap_err(), error);
            assert_eq!(RgbFrame::new(&[], w, h).unwrap_err(), error);
        }
        assert_eq!(
            RgbFrame::new(&[], MAX_DIMENSION + 1, 1).unwrap_err(),
            CoreError::FrameTooLarge {
                width: MAX_DIMENSION + 1,
                height: 1,
                max: MAX_DIMENSION,
            }
        );
        // The limit itself is allowed.
        let row = vec![0u8; MAX_DIMENSION];
        assert!(Plane::packed("Y", &row, MAX_DIMENSION, 1).is_ok());
    }
}
