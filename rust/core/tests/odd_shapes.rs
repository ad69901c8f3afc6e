//! Property tests of the feature kernels on odd shapes (1x1, odd widths, huge
//! aspect ratios) and on decoder-style planes whose rows are padded with garbage.

use proptest::prelude::*;

use thumbsel_core::columns::{ColumnValue, COLUMNS};
use thumbsel_core::frame::{chroma_size, Plane};
use thumbsel_core::{
    frame_change, rgb_features, yuv420_features, ColorRange, ColorSpec, FrameFeatures, Matrix, RgbFrame, Yuv420Frame,
};

/// SplitMix64 bytes: cheap, and every seed gives a different picture.
fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

/// `pixels` (packed rows of `width`) laid out `stride` bytes apart, with
/// garbage in the padding; the last row keeps its padding or not.
fn padded(pixels: &[u8], width: usize, height: usize, stride: usize, trim_last: bool, seed: u64) -> Vec<u8> {
    let mut out = bytes(stride * height, seed);
    for y in 0..height {
        out[y * stride..y * stride + width].copy_from_slice(&pixels[y * width..(y + 1) * width]);
    }
    if trim_last {
        out.truncate((height - 1) * stride + width);
    }
    out
}

fn sizes() -> impl Strategy<Value = (usize, usize)> {
    prop_oneof![
        6 => (1usize..=67, 1usize..=41),
        1 => Just((1, 1)),
        1 => Just((1, 300)),
        1 => Just((300, 1)),
        1 => (1usize..=3, 150usize..=400),
        1 => (150usize..=400, 1usize..=3),
    ]
}

fn specs() -> impl Strategy<Value = ColorSpec> {
    (any::<bool>(), any::<bool>()).prop_map(|(full, hd)| ColorSpec {
        range: if full { ColorRange::Full } else { ColorRange::Limited },
        matrix: if hd { Matrix::Bt709 } else { Matrix::Bt601 },
    })
}

/// Every value is finite and inside the range its column's unit promises.
fn check_columns(f: &FrameFeatures, width: usize, height: usize) -> Result<(), TestCaseError> {
    for column in COLUMNS {
        match column.value {
            ColumnValue::F64(get) => {
                let v = get(f);
                prop_assert!(v.is_finite(), "{} = {}", column.name, v);
                match column.unit {
                    "0..1" => prop_assert!((0.0..=1.0).contains(&v), "{} = {}", column.name, v),
                    "bits" => prop_assert!((0.0..=8.0).contains(&v), "{} = {}", column.name, v),
                    _ => prop_assert!(v >= 0.0, "{} = {}", column.name, v),
                }
            }
            ColumnValue::I32(get) => {
                let v = get(f);
                let limit = if column.name.ends_with("top") || column.name.ends_with("bottom") {
                    height
                } else {
                    width
                };
                prop_assert!(v >= 0 && v as usize <= limit, "{} = {}", column.name, v);
            }
            ColumnValue::Histogram(get) => {
                let bins = get(f);
                prop_assert!(bins.iter().all(|b| b.is_finite() && (0.0..=1.0).contains(b)));
                prop_assert!((bins.iter().sum::<f32>() - 1.0).abs() < 1e-4);
            }
            ColumnValue::U64(_) | ColumnValue::Change(_) => {}
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn yuv_features_of_odd_and_padded_frames(
        (width, height) in sizes(),
        luma_padding in 0usize..=9,
        chroma_padding in 0usize..=9,
        trim_last in any::<bool>(),
        seed in any::<u64>(),
        spec in specs(),
    ) {
        let (cw, ch) = chroma_size(width, height);
        let y = bytes(width * height, seed);
        let u = bytes(cw * ch, seed ^ 1);
        let v = bytes(cw * ch, seed ^ 2);
        let packed = Yuv420Frame::new(&y, &u, &v, width, height).unwrap();

        let (ys, cs) = (width + luma_padding, cw + chroma_padding);
        let py = padded(&y, width, height, ys, trim_last, seed ^ 3);
        let pu = padded(&u, cw, ch, cs, trim_last, seed ^ 4);
        let pv = padded(&v, cw, ch, cs, trim_last, seed ^ 5);
        let strided = Yuv420Frame::from_planes(
            Plane::new("Y", &py, width, height, ys).unwrap(),
            Plane::new("U", &pu, cw, ch, cs).unwrap(),
            Plane::new("V", &pv, cw, ch, cs).unwrap(),
        )
        .unwrap();

        let (features, signature) = yuv420_features(&packed, spec);
        let (again, strided_signature) = yuv420_features(&strided, spec);
        check_columns(&features, width, height)?;
        prop_assert_eq!(&features, &again);
        let change = frame_change(&signature, &strided_signature);
        prop_assert_eq!(
            (change.cut_score, change.histogram_distance, change.hash_distance, change.motion),
            (0.0, 0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn rgb_features_of_odd_frames((width, height) in sizes(), seed in any::<u64>()) {
        let data = bytes(width * height * 3, seed);
        let (features, _) = rgb_features(&RgbFrame::new(&data, width, height).unwrap());
        check_columns(&features, width, height)?;
    }

    #[test]
    fn change_signals_of_any_two_frames_are_in_range(
        (width, height) in sizes(),
        seed in any::<u64>(),
    ) {
        let a = bytes(width * height * 3, seed);
        let b = bytes(width * height * 3, !seed);
        let (_, before) = rgb_features(&RgbFrame::new(&a, width, height).unwrap());
        let (_, after) = rgb_features(&RgbFrame::new(&b, width, height).unwrap());
        let change = frame_change(&before, &after);
        prop_assert!((0.0..=255.0).contains(&change.cut_score));
        // The bins are f32 shares of a pixel count, so their sum is 1 only to rounding.
        prop_assert!((0.0..=1.0 + 1e-6).contains(&change.histogram_distance), "{}", change.histogram_distance);
        prop_assert!((0.0..=64.0).contains(&change.hash_distance));
        prop_assert!((0.0..=1.0).contains(&change.motion));
    }
}
