//! The per-frame columns the core computes: their names, types, units and
//! meanings, in table order. Bindings and the frame table are built from this
//! list, so a column is named in one place only.

use crate::change::FrameChange;
use crate::color::HISTOGRAM_BINS;
use crate::features::FrameFeatures;

/// Version of the numbers the kernels produce. Bumped whenever any kernel's
/// output changes (a new column, a changed definition, a different rounding),
/// so a frame table saved by another version can be refused instead of being
/// silently mixed with new measurements.
pub const FEATURES_VERSION: u32 = 2;

/// Element type of a column, as numpy and Arrow name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    Float64,
    UInt64,
    Int32,
    /// A fixed-size list of [`HISTOGRAM_BINS`] `f32` per frame.
    HistogramF32,
}

impl Dtype {
    /// The name bindings expose: `"float64"`, `"uint64"`, `"int32"` or `"float32[64]"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Float64 => "float64",
            Self::UInt64 => "uint64",
            Self::Int32 => "int32",
            Self::HistogramF32 => "float32[64]",
        }
    }
}

/// How a column's value is read. The type follows from the variant, and only
/// change signals read the comparison with the previous frame, so the dtype
/// and the nullability cannot disagree with the accessor.
#[derive(Debug, Clone, Copy)]
pub enum ColumnValue {
    F64(fn(&FrameFeatures) -> f64),
    U64(fn(&FrameFeatures) -> u64),
    I32(fn(&FrameFeatures) -> i32),
    Histogram(fn(&FrameFeatures) -> &[f32; HISTOGRAM_BINS]),
    /// A signal against the previous frame: null for the first frame of a stream.
    Change(fn(&FrameChange) -> f64),
}

/// One per-frame output column.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    /// Short unit or range; empty when the value has none (hashes).
    pub unit: &'static str,
    pub description: &'static str,
    pub value: ColumnValue,
}

impl Column {
    #[must_use]
    pub const fn dtype(&self) -> Dtype {
        match self.value {
            ColumnValue::F64(_) | ColumnValue::Change(_) => Dtype::Float64,
            ColumnValue::U64(_) => Dtype::UInt64,
            ColumnValue::I32(_) => Dtype::Int32,
            ColumnValue::Histogram(_) => Dtype::HistogramF32,
        }
    }

    /// Whether the value is null for the first frame of a stream.
    #[must_use]
    pub const fn nullable(&self) -> bool {
        matches!(self.value, ColumnValue::Change(_))
    }
}

const fn column(name: &'static str, unit: &'static str, description: &'static str, value: ColumnValue) -> Column {
    Column {
        name,
        unit,
        description,
        value,
    }
}

/// Every per-frame column, in frame-table order: the features of each frame
/// by itself, then the change signals against the previous frame.
///
/// # Example
/// ```
/// use thumbsel_core::columns::{Dtype, COLUMNS};
/// assert_eq!(COLUMNS[0].name, "brightness");
/// let motion = COLUMNS.iter().find(|c| c.name == "motion").unwrap();
/// assert_eq!((motion.dtype(), motion.nullable()), (Dtype::Float64, true));
/// ```
pub const COLUMNS: &[Column] = &[
    column(
        "brightness",
        "0..1",
        "mean luma on the full-range scale",
        ColumnValue::F64(|f| f.brightness),
    ),
    column(
        "contrast",
        "0..1",
        "standard deviation of full-range luma",
        ColumnValue::F64(|f| f.contrast),
    ),
    column(
        "dark_fraction",
        "0..1",
        "share of pixels with full-range luma <= 18/255",
        ColumnValue::F64(|f| f.dark_fraction),
    ),
    column(
        "bright_fraction",
        "0..1",
        "share of pixels with full-range luma >= 240/255",
        ColumnValue::F64(|f| f.bright_fraction),
    ),
    column(
        "entropy",
        "bits",
        "Shannon entropy of the full-range luma histogram (0..8)",
        ColumnValue::F64(|f| f.entropy),
    ),
    column(
        "sharpness",
        "(8-bit luma)^2",
        "variance of the 3x3 Laplacian of full-resolution, full-range luma (OpenCV's focus measure)",
        ColumnValue::F64(|f| f.sharpness),
    ),
    column(
        "gradient_energy",
        "0..1",
        "mean Sobel gradient magnitude on the analysis grid (1 for a black-to-white step)",
        ColumnValue::F64(|f| f.gradient_energy),
    ),
    column(
        "edge_density",
        "0..1",
        "share of analysis-grid pixels with gradient magnitude > 0.1",
        ColumnValue::F64(|f| f.edge_density),
    ),
    column(
        "colorfulness",
        "8-bit RGB levels",
        "Hasler-Susstrunk colourfulness (above about 30 looks colourful)",
        ColumnValue::F64(|f| f.colorfulness),
    ),
    column(
        "saturation",
        "0..1",
        "mean HSV saturation",
        ColumnValue::F64(|f| f.saturation),
    ),
    column(
        "mean_red",
        "0..1",
        "mean red of the analysis grid",
        ColumnValue::F64(|f| f.mean_rgb[0]),
    ),
    column(
        "mean_green",
        "0..1",
        "mean green of the analysis grid",
        ColumnValue::F64(|f| f.mean_rgb[1]),
    ),
    column(
        "mean_blue",
        "0..1",
        "mean blue of the analysis grid",
        ColumnValue::F64(|f| f.mean_rgb[2]),
    ),
    column(
        "saliency_x",
        "0..1",
        "saliency-weighted centroid, fraction of the content width (inside black bars)",
        ColumnValue::F64(|f| f.composition.saliency_x),
    ),
    column(
        "saliency_y",
        "0..1",
        "saliency-weighted centroid, fraction of the content height (inside black bars)",
        ColumnValue::F64(|f| f.composition.saliency_y),
    ),
    column(
        "saliency_spread",
        "0..1",
        "RMS distance of the saliency mass from its centroid, in content fractions (about 0.41 when even)",
        ColumnValue::F64(|f| f.composition.saliency_spread),
    ),
    column(
        "thirds",
        "0..1",
        "rule of thirds: 1 with the centroid on a third-line intersection, 0 at the centre or further",
        ColumnValue::F64(|f| f.composition.thirds),
    ),
    column(
        "symmetry",
        "0..1",
        "left-right mirror similarity of the picture inside black bars",
        ColumnValue::F64(|f| f.composition.symmetry),
    ),
    column(
        "depth_of_field",
        "0..1",
        "1 - focus of the rest / focus of the most salient quarter (0 when not sharper)",
        ColumnValue::F64(|f| f.composition.depth_of_field),
    ),
    column(
        "dhash",
        "",
        "64-bit difference hash (imagehash.dhash definition)",
        ColumnValue::U64(|f| f.dhash),
    ),
    column(
        "phash",
        "",
        "64-bit perceptual hash (imagehash.phash definition)",
        ColumnValue::U64(|f| f.phash),
    ),
    column(
        "bar_top",
        "pixels",
        "black rows at the top of this frame",
        ColumnValue::I32(|f| f.bars.top as i32),
    ),
    column(
        "bar_bottom",
        "pixels",
        "black rows at the bottom of this frame",
        ColumnValue::I32(|f| f.bars.bottom as i32),
    ),
    column(
        "bar_left",
        "pixels",
        "black columns at the left of this frame",
        ColumnValue::I32(|f| f.bars.left as i32),
    ),
    column(
        "bar_right",
        "pixels",
        "black columns at the right of this frame",
        ColumnValue::I32(|f| f.bars.right as i32),
    ),
    column(
        "histogram",
        "0..1",
        "normalised 4x4x4 RGB histogram of the analysis grid: 64 bins summing to 1, \
         bin = 16*(R//64) + 4*(G//64) + B//64",
        ColumnValue::Histogram(|f| &f.histogram),
    ),
    column(
        "cut_score",
        "HSV units, 0..255",
        "mean |dH|, |dS|, |dV| vs the previous frame on OpenCV's HSV scale \
         (PySceneDetect ContentDetector's score; cuts are usually > 27); null when the frame size changed",
        ColumnValue::Change(|c| c.cut_score),
    ),
    column(
        "histogram_distance",
        "0..1",
        "total-variation distance of colour histograms vs the previous frame",
        ColumnValue::Change(|c| c.histogram_distance),
    ),
    column(
        "hash_distance",
        "0..64 bits",
        "Hamming distance of pHashes vs the previous frame",
        ColumnValue::Change(|c| c.hash_distance),
    ),
    column(
        "motion",
        "0..1",
        "mean absolute difference of analysis-grid gray levels vs the previous frame; \
         null when the frame size changed",
        ColumnValue::Change(|c| c.motion),
    ),
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::change::frame_change;
    use crate::features::rgb_features;
    use crate::frame::RgbFrame;

    /// A colourful frame with black bars of four different widths and a sharp,
    /// bright patch off-centre on a smooth background, so that no two fields
    /// of its features share a value and a swapped accessor shows.
    fn barred_frame(width: usize, height: usize, seed: u64) -> Vec<u8> {
        let (top, bottom, left, right) = (2, 3, 1, 4);
        let mut state = seed;
        let mut data = vec![0u8; width * height * 3];
        for y in top..height - bottom {
            for x in left..width - right {
                let in_patch = (width / 5..width / 2).contains(&x) && (height / 5..height / 2).contains(&y);
                for c in 0..3 {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let smooth = 40 + (x * 90 / width + c * 50 + y * 30 / height) as u64;
                    let value = if in_patch && (x + y) % 2 == 0 {
                        255
                    } else if in_patch {
                        state >> 58
                    } else {
                        smooth
                    };
                    data[(y * width + x) * 3 + c] = value.min(255) as u8;
                }
            }
        }
        data
    }

    fn expected_f64(f: &FrameFeatures, name: &str) -> f64 {
        match name {
            "brightness" => f.brightness,
            "contrast" => f.contrast,
            "dark_fraction" => f.dark_fraction,
            "bright_fraction" => f.bright_fraction,
            "entropy" => f.entropy,
            "sharpness" => f.sharpness,
            "gradient_energy" => f.gradient_energy,
            "edge_density" => f.edge_density,
            "colorfulness" => f.colorfulness,
            "saturation" => f.saturation,
            "mean_red" => f.mean_rgb[0],
            "mean_green" => f.mean_rgb[1],
            "mean_blue" => f.mean_rgb[2],
            "saliency_x" => f.composition.saliency_x,
            "saliency_y" => f.composition.saliency_y,
            "saliency_spread" => f.composition.saliency_spread,
            "thirds" => f.composition.thirds,
            "symmetry" => f.composition.symmetry,
            "depth_of_field" => f.composition.depth_of_field,
            other => panic!("{other} is not a float feature"),
        }
    }

    #[test]
    fn names_are_unique() {
        let names: HashSet<&str> = COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), COLUMNS.len());
    }

    #[test]
    fn order_is_the_frame_table_order() {
        let names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "brightness",
                "contrast",
                "dark_fraction",
                "bright_fraction",
                "entropy",
                "sharpness",
                "gradient_energy",
                "edge_density",
                "colorfulness",
                "saturation",
                "mean_red",
                "mean_green",
                "mean_blue",
                "saliency_x",
                "saliency_y",
                "saliency_spread",
                "thirds",
                "symmetry",
                "depth_of_field",
                "dhash",
                "phash",
                "bar_top",
                "bar_bottom",
                "bar_left",
                "bar_right",
                "histogram",
                "cut_score",
                "histogram_distance",
                "hash_distance",
                "motion",
            ]
        );
    }

    #[test]
    fn dtypes_and_nullability_follow_the_accessor() {
        let dtype = |name: &str| COLUMNS.iter().find(|c| c.name == name).unwrap().dtype().as_str();
        assert_eq!(dtype("brightness"), "float64");
        assert_eq!(dtype("phash"), "uint64");
        assert_eq!(dtype("bar_left"), "int32");
        assert_eq!(dtype("histogram"), "float32[64]");
        assert_eq!(dtype("motion"), "float64");
        let nullable: Vec<&str> = COLUMNS.iter().filter(|c| c.nullable()).map(|c| c.name).collect();
        assert_eq!(nullable, ["cut_score", "histogram_distance", "hash_distance", "motion"]);
        // The change signals come last, so the frame's own features form a prefix.
        assert!(COLUMNS.iter().skip_while(|c| !c.nullable()).all(Column::nullable));
        assert!(COLUMNS.iter().all(|c| !c.description.is_empty()));
    }

    #[test]
    fn every_accessor_reads_the_field_it_names() {
        let (w, h) = (96, 60);
        let a = barred_frame(w, h, 1);
        let b = barred_frame(w, h, 2);
        let (fa, sa) = rgb_features(&RgbFrame::new(&a, w, h).unwrap());
        let (_, sb) = rgb_features(&RgbFrame::new(&b, w, h).unwrap());
        let change = frame_change(&sa, &sb);

        let mut floats = Vec::new();
        for column in COLUMNS {
            match column.value {
                ColumnValue::F64(get) => {
                    let value = get(&fa);
                    assert_eq!(
                        value.to_bits(),
                        expected_f64(&fa, column.name).to_bits(),
                        "{}",
                        column.name
                    );
                    floats.push(value);
                }
                ColumnValue::U64(get) => {
                    let expected = match column.name {
                        "dhash" => fa.dhash,
                        "phash" => fa.phash,
                        other => panic!("{other} is not a hash"),
                    };
                    assert_eq!(get(&fa), expected, "{}", column.name);
                }
                ColumnValue::I32(get) => {
                    let expected = match column.name {
                        "bar_top" => fa.bars.top,
                        "bar_bottom" => fa.bars.bottom,
                        "bar_left" => fa.bars.left,
                        "bar_right" => fa.bars.right,
                        other => panic!("{other} is not a bar"),
                    };
                    assert_eq!(get(&fa), expected as i32, "{}", column.name);
                }
                ColumnValue::Histogram(get) => assert_eq!(get(&fa), &fa.histogram),
                ColumnValue::Change(get) => {
                    let expected = match column.name {
                        "cut_score" => change.cut_score,
                        "histogram_distance" => change.histogram_distance,
                        "hash_distance" => change.hash_distance,
                        "motion" => change.motion,
                        other => panic!("{other} is not a change signal"),
                    };
                    assert_eq!(get(&change).to_bits(), expected.to_bits(), "{}", column.name);
                }
            }
        }
        // Distinct values make the comparisons above catch two swapped accessors.
        let distinct: HashSet<u64> = floats.iter().map(|v| v.to_bits()).collect();
        assert_eq!(distinct.len(), floats.len(), "{fa:?}");
        assert_eq!((fa.bars.top, fa.bars.bottom, fa.bars.left, fa.bars.right), (2, 3, 1, 4));
        assert_ne!(fa.dhash, fa.phash);
        let changes = [
            change.cut_score,
            change.histogram_distance,
            change.hash_distance,
            change.motion,
        ];
        let distinct: HashSet<u64> = changes.iter().map(|v| v.to_bits()).collect();
        assert_eq!(distinct.len(), 4, "{change:?}");
    }
}
