//! `thumbsel._core`: the numpy boundary of thumbsel-core.
//!
//! Only conversion, checks and error mapping live here. Every array is
//! checked for dtype, shape and contiguity before the GIL is released, and
//! all kernel work runs in one GIL-free section per call.

use std::panic::{catch_unwind, AssertUnwindSafe};

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray2, PyReadonlyArray4, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyTuple, PyType};

use thumbsel_core::color::HISTOGRAM_BINS;
use thumbsel_core::frame::Plane;
use thumbsel_core::{
    analyze_rgb_batch, analyze_yuv420_batch, BatchResult, ColorRange, ColorSpec, ColumnValue, CoreError,
    FrameSignature, Matrix, RgbFrame, Yuv420Frame, COLUMNS, FEATURES_VERSION,
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

/// Column-wise dict of numpy arrays, one row per frame, in registry order.
fn to_columns<'py>(py: Python<'py>, result: &BatchResult) -> PyResult<Bound<'py, PyDict>> {
    let f = &result.features;
    let out = PyDict::new(py);
    for column in COLUMNS {
        let values = match column.value {
            ColumnValue::F64(get) => PyArray1::from_vec(py, f.iter().map(get).collect()).into_any(),
            ColumnValue::U64(get) => PyArray1::from_vec(py, f.iter().map(get).collect()).into_any(),
            ColumnValue::I32(get) => PyArray1::from_vec(py, f.iter().map(get).collect()).into_any(),
            ColumnValue::Histogram(get) => {
                let flat: Vec<f32> = f.iter().flat_map(|x| *get(x)).collect();
                Array2::from_shape_vec((f.len(), HISTOGRAM_BINS), flat)
                    .map_err(|e| ThumbselError::new_err(e.to_string()))?
                    .into_pyarray(py)
                    .into_any()
            }
            // NaN stands for null: numpy has no missing value for floats.
            ColumnValue::Change(get) => {
                let values = result.changes.iter().map(|c| c.as_ref().map_or(f64::NAN, get));
                PyArray1::from_vec(py, values.collect()).into_any()
            }
        };
        out.set_item(column.name, values)?;
    }
    Ok(out)
}

/// `(name, dtype, unit, description, nullable)` of every column, in order.
fn column_table(py: Python<'_>) -> PyResult<Bound<'_, PyTuple>> {
    PyTuple::new(
        py,
        COLUMNS
            .iter()
            .map(|c| (c.name, c.dtype().as_str(), c.unit, c.description, c.nullable())),
    )
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

/// Called in a forked child (`os.register_at_fork`): the parent's worker
/// threads do not exist there. Never blocks.
#[pyfunction]
fn _after_fork_in_child() {
    thumbsel_core::after_fork_in_child();
}

/// Whether scoring runs serially in this process.
#[pyfunction]
fn parallelism_disabled() -> bool {
    thumbsel_core::parallelism_disabled()
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
    m.add("COLUMNS", column_table(py)?)?;
    m.add("HISTOGRAM_BINS", HISTOGRAM_BINS)?;
    m.add("FEATURES_VERSION", FEATURES_VERSION)?;
    m.add_class::<FeatureExtractor>()?;
    m.add_function(wrap_pyfunction!(frame_features, m)?)?;
    m.add_function(wrap_pyfunction!(set_threads, m)?)?;
    m.add_function(wrap_pyfunction!(thread_count, m)?)?;
    m.add_function(wrap_pyfunction!(parallelism_disabled, m)?)?;
    m.add_function(wrap_pyfunction!(_after_fork_in_child, m)?)?;
    Ok(())
}
