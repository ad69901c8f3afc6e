//! `thumbsel._core`: the numpy boundary of thumbsel-core.
//!
//! Only conversion, checks and error mapping live here. Every array is
//! checked for dtype, shape and contiguity before the GIL is released, and
//! all kernel work runs in one GIL-free section per call.

use std::panic::{catch_unwind, AssertUnwindSafe};

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray2, PyReadonlyArray3, PyReadonlyArray4, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};

use thumbsel_core::color::HISTOGRAM_BINS;
use thumbsel_core::frame::Plane;
use thumbsel_core::{
    analyze_rgb_batch, analyze_yuv420_batch, BatchResult, ColorRange, ColorSpec, CoreError, FrameSignature, Matrix,
    RgbFrame, Yuv420Frame,
};

create_exception!(
    thumbsel._core,
    ThumbselError,
    PyException,
    "Base of every error thumbsel raises on purpose."
);

/// `InvalidFrameError(ThumbselError, ValueError)`, built at import time since
/// `create_exception!` allows one base only and callers catch either.
static INVALID_FRAME_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn invalid_frame(py: Python<'_>, message: String) -> PyErr {
    match INVALID_FRAME_ERROR.get(py) {
        Some(ty) => PyErr::from_type(ty.bind(py).clone(), message),
        None => ThumbselError::new_err(message),
    }
}

fn core_error(py: Python<'_>, error: &CoreError) -> PyErr {
    match error {
        CoreError::ThreadPool { .. } => ThumbselError::new_err(error.to_string()),
        _ => invalid_frame(py, error.to_string()),
    }
}

/// Describe what a caller passed, for error messages.
fn describe(value: &Bound<'_, PyAny>) -> String {
    let shape = value.getattr("shape").ok().map(|s| s.to_string());
    let dtype = value.getattr("dtype").ok().map(|d| d.to_string());
    match (dtype, shape) {
        (Some(d), Some(s)) => format!("a {d} array of shape {s}"),
        _ => format!(
            "a {}",
            value.get_type().name().map_or_else(|_| "?".into(), |n| n.to_string())
        ),
    }
}

fn wrong_array(py: Python<'_>, name: &str, expected: &str, value: &Bound<'_, PyAny>) -> PyErr {
    let message = format!(
        "{name} must be a uint8 numpy array of shape {expected}; got {}",
        describe(value)
    );
    if value.getattr("dtype").is_ok() {
        invalid_frame(py, message)
    } else {
        PyTypeError::new_err(message)
    }
}

fn contiguous<'a>(py: Python<'_>, name: &str, slice: Result<&'a [u8], numpy::AsSliceError>) -> PyResult<&'a [u8]> {
    slice.map_err(|_| invalid_frame(py, format!("{name} must be C-contiguous (use numpy.ascontiguousarray)")))
}

/// A plane's bytes, width, height and row stride, taken from numpy.
type RawPlane<'a> = (&'a [u8], usize, usize, usize);

/// The bytes of a 2-D uint8 array whose rows may be padded: (data, width,
/// height, row stride). Columns must be adjacent bytes and rows must go
/// forward in memory, as in a decoder's plane buffer.
fn strided_rows<'a>(py: Python<'_>, name: &str, array: &'a PyReadonlyArray2<'_, u8>) -> PyResult<RawPlane<'a>> {
    let view = array.as_array();
    let (height, width) = view.dim();
    let strides = view.strides();
    let row_stride = strides[0];
    if height == 0 || width == 0 {
        return Err(invalid_frame(py, format!("{name} is empty: {width}x{height}")));
    }
    if strides[1] != 1 || row_stride < width as isize {
        return Err(invalid_frame(
            py,
            format!("{name} must have adjacent columns and rows at least a row apart; got strides {strides:?}"),
        ));
    }
    let span = (height - 1) * row_stride as usize + width;
    // SAFETY: numpy guarantees every element of the view lies in one
    // allocation; with positive strides the first element is at `as_ptr()`
    // and the last at `as_ptr() + span - 1`, so the whole span is inside it.
    // The read-only borrow keeps the array alive and unwritten through numpy
    // for as long as `array` is borrowed.
    let data = unsafe { std::slice::from_raw_parts(view.as_ptr(), span) };
    Ok((data, width, height, row_stride as usize))
}

/// Run a kernel with the GIL released; a panic becomes a `ThumbselError`
/// instead of crossing into Python.
fn run_detached<T: Send>(py: Python<'_>, job: impl FnOnce() -> Result<T, CoreError> + Send) -> PyResult<T> {
    let outcome = py.detach(|| catch_unwind(AssertUnwindSafe(job)));
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(core_error(py, &error)),
        Err(panic) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(ThumbselError::new_err(format!(
                "internal error in thumbsel core ({detail}); please report it with the input that caused it"
            )))
        }
    }
}

fn nan_if_none(value: Option<f64>) -> f64 {
    value.unwrap_or(f64::NAN)
}

/// Column-wise dict of numpy arrays, one row per frame.
fn to_columns<'py>(py: Python<'py>, result: &BatchResult) -> PyResult<Bound<'py, PyDict>> {
    let f = &result.features;
    let out = PyDict::new(py);
    let float = |get: &dyn Fn(&thumbsel_core::FrameFeatures) -> f64| f.iter().map(get).collect::<Vec<f64>>();
    let columns: [(&str, Vec<f64>); 19] = [
        ("brightness", float(&|x| x.brightness)),
        ("contrast", float(&|x| x.contrast)),
        ("dark_fraction", float(&|x| x.dark_fraction)),
        ("bright_fraction", float(&|x| x.bright_fraction)),
        ("entropy", float(&|x| x.entropy)),
        ("sharpness", float(&|x| x.sharpness)),
        ("gradient_energy", float(&|x| x.gradient_energy)),
        ("edge_density", float(&|x| x.edge_density)),
        ("colorfulness", float(&|x| x.colorfulness)),
        ("saturation", float(&|x| x.saturation)),
        ("mean_red", float(&|x| x.mean_rgb[0])),
        ("mean_green", float(&|x| x.mean_rgb[1])),
        ("mean_blue", float(&|x| x.mean_rgb[2])),
        ("saliency_x", float(&|x| x.composition.saliency_x)),
        ("saliency_y", float(&|x| x.composition.saliency_y)),
        ("saliency_spread", float(&|x| x.composition.saliency_spread)),
        ("thirds", float(&|x| x.composition.thirds)),
        ("symmetry", float(&|x| x.composition.symmetry)),
        ("depth_of_field", float(&|x| x.composition.depth_of_field)),
    ];
    for (name, values) in columns {
        out.set_item(name, PyArray1::from_vec(py, values))?;
    }
    out.set_item("dhash", PyArray1::from_vec(py, f.iter().map(|x| x.dhash).collect()))?;
    out.set_item("phash", PyArray1::from_vec(py, f.iter().map(|x| x.phash).collect()))?;
    let bars: [(&str, Vec<i32>); 4] = [
        ("bar_top", f.iter().map(|x| x.bars.top as i32).collect()),
        ("bar_bottom", f.iter().map(|x| x.bars.bottom as i32).collect()),
        ("bar_left", f.iter().map(|x| x.bars.left as i32).collect()),
        ("bar_right", f.iter().map(|x| x.bars.right as i32).collect()),
    ];
    for (name, values) in bars {
        out.set_item(name, PyArray1::from_vec(py, values))?;
    }
    let flat: Vec<f32> = f.iter().flat_map(|x| x.histogram).collect();
    let histogram =
        Array2::from_shape_vec((f.len(), HISTOGRAM_BINS), flat).map_err(|e| ThumbselError::new_err(e.to_string()))?;
    out.set_item("histogram", histogram.into_pyarray(py))?;
    let c = &result.changes;
    let changes: [(&str, Vec<f64>); 4] = [
        (
            "cut_score",
            c.iter().map(|x| nan_if_none(x.map(|x| x.cut_score))).collect(),
        ),
        (
            "histogram_distance",
            c.iter().map(|x| nan_if_none(x.map(|x| x.histogram_distance))).collect(),
        ),
        (
            "hash_distance",
            c.iter().map(|x| nan_if_none(x.map(|x| x.hash_distance))).collect(),
        ),
        ("motion", c.iter().map(|x| nan_if_none(x.map(|x| x.motion))).collect()),
    ];
    for (name, values) in changes {
        out.set_item(name, PyArray1::from_vec(py, values))?;
    }
    Ok(out)
}

fn parse_matrix(matrix: &str) -> PyResult<Matrix> {
    match matrix {
        "bt601" => Ok(Matrix::Bt601),
        "bt709" => Ok(Matrix::Bt709),
        other => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "matrix must be 'bt601' or 'bt709', not {other:?}"
        ))),
    }
}

/// Streaming scorer: feed it batches of consecutive frames; the change
/// signals of each batch's first frame compare against the previous batch.
#[pyclass(module = "thumbsel._core")]
struct FeatureExtractor {
    spec: ColorSpec,
    previous: Option<FrameSignature>,
    frames_seen: u64,
}

#[pymethods]
impl FeatureExtractor {
    #[new]
    #[pyo3(signature = (*, full_range = false, matrix = "bt709"))]
    fn new(full_range: bool, matrix: &str) -> PyResult<Self> {
        Ok(Self {
            spec: ColorSpec {
                range: if full_range {
                    ColorRange::Full
                } else {
                    ColorRange::Limited
                },
                matrix: parse_matrix(matrix)?,
            },
            previous: None,
            frames_seen: 0,
        })
    }

    /// Score `(N, H, W)` luma with `(N, ceil(H/2), ceil(W/2))` chroma planes.
    fn push_yuv420<'py>(
        &mut self,
        py: Python<'py>,
        y: &Bound<'py, PyAny>,
        u: &Bound<'py, PyAny>,
        v: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let y_array: PyReadonlyArray3<u8> = y.extract().map_err(|_| wrong_array(py, "y", "(N, H, W)", y))?;
        let shape = y_array.shape().to_vec();
        let (n, h, w) = (shape[0], shape[1], shape[2]);
        let (cw, ch) = thumbsel_core::frame::chroma_size(w.max(1), h.max(1));
        let expected = format!("({n}, {ch}, {cw})");
        let u_array: PyReadonlyArray3<u8> = u.extract().map_err(|_| wrong_array(py, "u", &expected, u))?;
        let v_array: PyReadonlyArray3<u8> = v.extract().map_err(|_| wrong_array(py, "v", &expected, v))?;
        for (name, array, value) in [("u", &u_array, u), ("v", &v_array, v)] {
            if array.shape() != [n, ch, cw] {
                return Err(wrong_array(py, name, &expected, value));
            }
        }
        let ys = contiguous(py, "y", y_array.as_slice())?;
        let us = contiguous(py, "u", u_array.as_slice())?;
        let vs = contiguous(py, "v", v_array.as_slice())?;
        let spec = self.spec;
        let previous = self.previous.take();
        let result = run_detached(py, || {
            let luma_size = h * w;
            let chroma = ch * cw;
            let frames = (0..n)
                .map(|i| {
                    Yuv420Frame::new(
                        &ys[i * luma_size..(i + 1) * luma_size],
                        &us[i * chroma..(i + 1) * chroma],
                        &vs[i * chroma..(i + 1) * chroma],
                        w,
                        h,
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            analyze_yuv420_batch(&frames, spec, previous.as_ref())
        });
        self.finish(py, result)
    }

    /// Score frames given as lists of 2-D planes that may have padded rows,
    /// such as numpy views of a decoder's buffers: no copy is made.
    fn push_yuv420_planes<'py>(
        &mut self,
        py: Python<'py>,
        ys: &Bound<'py, PyList>,
        us: &Bound<'py, PyList>,
        vs: &Bound<'py, PyList>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let n = ys.len();
        if us.len() != n || vs.len() != n {
            return Err(invalid_frame(
                py,
                format!(
                    "ys, us and vs must have one plane per frame; got {n}, {}, {}",
                    us.len(),
                    vs.len()
                ),
            ));
        }
        let mut held: Vec<[PyReadonlyArray2<'py, u8>; 3]> = Vec::with_capacity(n);
        for i in 0..n {
            let mut three = Vec::with_capacity(3);
            for (name, list) in [("y", ys), ("u", us), ("v", vs)] {
                let item = list.get_item(i)?;
                let array: PyReadonlyArray2<u8> = item
                    .extract()
                    .map_err(|_| wrong_array(py, &format!("{name}[{i}]"), "(H, W)", &item))?;
                three.push(array);
            }
            let [y, u, v]: [PyReadonlyArray2<'py, u8>; 3] = three.try_into().expect("three planes were pushed");
            held.push([y, u, v]);
        }
        let mut views: Vec<[RawPlane<'_>; 3]> = Vec::with_capacity(n);
        for (i, planes) in held.iter().enumerate() {
            let mut described = [(&[] as &[u8], 0, 0, 0); 3];
            for (slot, (name, array)) in described.iter_mut().zip(["y", "u", "v"].iter().zip(planes.iter())) {
                *slot = strided_rows(py, &format!("{name}[{i}]"), array)?;
            }
            views.push(described);
        }
        let spec = self.spec;
        let previous = self.previous.take();
        let result = run_detached(py, || {
            let frames = views
                .iter()
                .map(|[y, u, v]| {
                    Yuv420Frame::from_planes(
                        Plane::new("Y", y.0, y.1, y.2, y.3)?,
                        Plane::new("U", u.0, u.1, u.2, u.3)?,
                        Plane::new("V", v.0, v.1, v.2, v.3)?,
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            analyze_yuv420_batch(&frames, spec, previous.as_ref())
        });
        self.finish(py, result)
    }

    /// Score an `(N, H, W, 3)` RGB batch.
    fn push_rgb<'py>(&mut self, py: Python<'py>, rgb: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let array: PyReadonlyArray4<u8> = rgb.extract().map_err(|_| wrong_array(py, "rgb", "(N, H, W, 3)", rgb))?;
        let shape = array.shape().to_vec();
        if shape[3] != 3 {
            return Err(wrong_array(py, "rgb", "(N, H, W, 3)", rgb));
        }
        let (n, h, w) = (shape[0], shape[1], shape[2]);
        let data = contiguous(py, "rgb", array.as_slice())?;
        let previous = self.previous.take();
        let result = run_detached(py, || {
            let size = h * w * 3;
            let frames = (0..n)
                .map(|i| RgbFrame::new(&data[i * size..(i + 1) * size], w, h))
                .collect::<Result<Vec<_>, _>>()?;
            analyze_rgb_batch(&frames, previous.as_ref())
        });
        self.finish(py, result)
    }

    /// Forget the previous frame (the next frame gets no change signals).
    fn reset(&mut self) {
        self.previous = None;
        self.frames_seen = 0;
    }

    /// Frames scored since creation or the last `reset`.
    #[getter]
    fn frames_seen(&self) -> u64 {
        self.frames_seen
    }
}

impl FeatureExtractor {
    /// Keep the batch's last frame for the next call. On failure keep none:
    /// the stream can no longer be continued reliably.
    fn finish<'py>(&mut self, py: Python<'py>, result: PyResult<BatchResult>) -> PyResult<Bound<'py, PyDict>> {
        match result {
            Ok(mut batch) => {
                self.frames_seen += batch.features.len() as u64;
                self.previous = batch.last.take();
                to_columns(py, &batch)
            }
            Err(error) => {
                self.previous = None;
                Err(error)
            }
        }
    }
}

/// Per-frame features of an `(N, H, W, 3)` uint8 RGB batch.
#[pyfunction]
fn frame_features<'py>(py: Python<'py>, rgb: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let mut extractor = FeatureExtractor::new(true, "bt709")?;
    extractor.push_rgb(py, rgb)
}

/// Use `threads` worker threads (`None`: `THUMBSEL_THREADS` or one per core).
#[pyfunction]
#[pyo3(signature = (threads = None))]
fn set_threads(py: Python<'_>, threads: Option<usize>) -> PyResult<usize> {
    if threads == Some(0) {
        return Err(pyo3::exceptions::PyValueError::new_err("threads must be at least 1"));
    }
    run_detached(py, || thumbsel_core::configure_threads(threads))
}

/// Worker threads scoring uses now.
#[pyfunction]
fn thread_count(py: Python<'_>) -> PyResult<usize> {
    run_detached(py, thumbsel_core::thread_count)
}

/// Called in a forked child: the parent's worker threads do not exist there.
#[pyfunction]
fn _disable_parallelism() {
    thumbsel_core::set_parallelism_disabled(true);
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ThumbselError", py.get_type::<ThumbselError>())?;
    let bases = PyTuple::new(
        py,
        [
            py.get_type::<ThumbselError>().into_any(),
            py.get_type::<pyo3::exceptions::PyValueError>().into_any(),
        ],
    )?;
    let namespace = PyDict::new(py);
    namespace.set_item("__module__", "thumbsel._core")?;
    namespace.set_item(
        "__doc__",
        "An array given to a kernel has the wrong dtype, shape or layout.",
    )?;
    let invalid = py
        .get_type::<PyType>()
        .call1(("InvalidFrameError", bases, namespace))?
        .cast_into::<PyType>()?;
    m.add("InvalidFrameError", &invalid)?;
    let _ = INVALID_FRAME_ERROR.set(py, invalid.unbind());
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "BUILD_PROFILE",
        if cfg!(debug_assertions) { "debug" } else { "release" },
    )?;
    m.add_class::<FeatureExtractor>()?;
    m.add_function(wrap_pyfunction!(frame_features, m)?)?;
    m.add_function(wrap_pyfunction!(set_threads, m)?)?;
    m.add_function(wrap_pyfunction!(thread_count, m)?)?;
    m.add_function(wrap_pyfunction!(_disable_parallelism, m)?)?;
    Ok(())
}
