//! Throughput of the per-frame kernels per resolution, and of the full
//! feature set on 1 thread vs all cores.
//!
//! `cargo bench -p thumbsel-core --bench features`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

use thumbsel_core::color::Grid;
use thumbsel_core::frame::Plane;
use thumbsel_core::resize::{box_reduce, grid_size};
use thumbsel_core::{analyze_yuv420_batch, configure_threads, luma, ColorSpec, RgbFrame, Yuv420Frame};

const RESOLUTIONS: [(&str, usize, usize); 3] = [("360p", 640, 360), ("720p", 1280, 720), ("1080p", 1920, 1080)];

/// A deterministic frame with texture and smooth gradients, like real video.
fn synthetic_plane(width: usize, height: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    (0..width * height)
        .map(|i| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let (x, y) = (i % width, i / width);
            let smooth = (x * 200 / width + y * 55 / height) as u64;
            (smooth + (state >> 60)).min(235) as u8
        })
        .collect()
}

struct Planes {
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

fn planes(width: usize, height: usize, seed: u64) -> Planes {
    let (cw, ch) = thumbsel_core::frame::chroma_size(width, height);
    Planes {
        y: synthetic_plane(width, height, seed),
        u: synthetic_plane(cw, ch, seed + 1),
        v: synthetic_plane(cw, ch, seed + 2),
    }
}

fn kernels(c: &mut Criterion) {
    let mut group = c.benchmark_group("kernel");
    for (name, w, h) in RESOLUTIONS {
        let p = planes(w, h, 7);
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::new("luma_scan", name), &p, |b, p| {
            let mut grid = Vec::new();
            let (gw, gh) = grid_size(w, h);
            let plane = Plane::packed("Y", &p.y, w, h).unwrap();
            b.iter(|| luma::scan(black_box(&plane), gw, gh, &mut grid));
        });
        group.bench_with_input(BenchmarkId::new("laplacian_variance", name), &p, |b, p| {
            b.iter(|| luma::laplacian_variance(black_box(&p.y), w, h));
        });
        let (gw, gh) = grid_size(w, h);
        group.bench_with_input(BenchmarkId::new("box_reduce_luma", name), &p, |b, p| {
            let mut out = vec![Vec::new()];
            b.iter(|| box_reduce(black_box(&p.y), w, h, 1, gw, gh, &mut out));
        });
        group.bench_with_input(BenchmarkId::new("yuv420_features", name), &p, |b, p| {
            let frame = Yuv420Frame::new(&p.y, &p.u, &p.v, w, h).unwrap();
            b.iter(|| thumbsel_core::yuv420_features(black_box(&frame), ColorSpec::default()));
        });
        let rgb: Vec<u8> = p.y.iter().flat_map(|&v| [v, v / 2, 255 - v]).collect();
        group.bench_with_input(BenchmarkId::new("rgb_features", name), &rgb, |b, rgb| {
            let frame = RgbFrame::new(rgb, w, h).unwrap();
            b.iter(|| thumbsel_core::rgb_features(black_box(&frame)));
        });
    }
    // The grid-level work alone, to see what the full-resolution passes cost.
    let (gw, gh) = grid_size(1280, 720);
    let mut grid = Grid::default();
    let plane: Vec<f32> = synthetic_plane(gw, gh, 3).into_iter().map(f32::from).collect();
    let neutral = vec![128.0f32; gw * gh];
    grid.width = gw;
    grid.height = gh;
    grid.set_from_ycbcr(&plane, &neutral, &plane, ColorSpec::default());
    group.bench_function("grid_hashes_720p", |b| {
        b.iter(|| thumbsel_core::hash::hashes(black_box(&grid.gray), gw, gh));
    });
    group.bench_function("grid_color_720p", |b| {
        b.iter(|| thumbsel_core::color::color_stats(black_box(&grid)));
    });
    group.bench_function("grid_gradients_720p", |b| {
        b.iter(|| thumbsel_core::edges::gradient_stats(black_box(&grid.gray), gw, gh));
    });
    // Composition on its own: the saliency map, centroid, thirds, symmetry and
    // depth of field (the Sobel magnitudes are shared with the gradient stats).
    let mut magnitudes = Vec::new();
    thumbsel_core::edges::gradient_magnitudes(&grid.gray, gw, gh, &mut magnitudes);
    let blocks: Vec<f64> = (0..luma::SHARPNESS_BLOCKS_X * luma::SHARPNESS_BLOCKS_Y)
        .map(|i| (i % 7) as f64 + 1.0)
        .collect();
    group.bench_function("composition_720p", |b| {
        b.iter(|| {
            thumbsel_core::composition::composition(
                black_box(&grid),
                &magnitudes,
                luma::Bars::default(),
                (1280, 720),
                &blocks,
            )
        });
    });
    group.finish();
}

fn batch_scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("batch_720p");
    let (w, h) = (1280, 720);
    let batch: Vec<Planes> = (0..32).map(|i| planes(w, h, i)).collect();
    let frames: Vec<Yuv420Frame<'_>> = batch
        .iter()
        .map(|p| Yuv420Frame::new(&p.y, &p.u, &p.v, w, h).unwrap())
        .collect();
    group.throughput(Throughput::Elements(frames.len() as u64));
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    for threads in [1, cores] {
        configure_threads(Some(threads)).unwrap();
        group.bench_with_input(BenchmarkId::new("threads", threads), &frames, |b, frames| {
            b.iter(|| analyze_yuv420_batch(black_box(frames), ColorSpec::default(), None).unwrap());
        });
    }
    group.finish();
}

criterion_group!(benches, kernels, batch_scaling);
criterion_main!(benches);
