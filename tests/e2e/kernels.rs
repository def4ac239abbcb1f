//! The patched candle-core kernels (scripts/patches/candle-core-0.10.2.diff), chosen at run
//! time by the CPU:
//! - Q4_K and Q6_K weights times inputs in int8 (AVX-512 VNNI): decoding (fewer than 8 rows),
//!   and prompts where the CPU has no AMX. They must agree with the crate's own vec-dot, which
//!   quantizes the inputs the same way (Q8_K) and is unpatched code, and with an f32 product over
//!   the dequantized weights up to that quantization.
//! - Any weight type times `k_quants::amx_min_rows()` (128) or more input rows as a bf16 GEMM
//!   on the AMX tile unit: it must agree with the f32 product up to bf16 rounding, rows and
//!   columns that do not fill a tile included.
//!
//! Shapes cover one row (a decode step), the 4- and 1-row tiles below 8 rows, full 8-row tiles,
//! column counts that are not a multiple of the 32-column task size, row counts that are not a
//! multiple of the 32-row tile block, and the model's widest inner dimension.

use candle_core::quantized::k_quants::{self, BlockQ4K, BlockQ6K, BlockQ8_0, BlockQ8K, GgmlType};
use candle_core::{Device, Tensor};

#[test]
fn q4k_matmul_agrees_with_the_crates_vec_dot_and_with_f32() {
    matmul_agrees::<BlockQ4K>();
}

#[test]
fn q6k_matmul_agrees_with_the_crates_vec_dot_and_with_f32() {
    matmul_agrees::<BlockQ6K>();
}

#[test]
fn q8_0_matmul_from_32_rows_agrees_with_f32() {
    // Any block type from 32 rows: the f32 GEMM over the dequantized weights, and from 128
    // rows the AMX GEMM where the CPU has it.
    for (m, k, n) in [(32, 256, 16), (45, 512, 50), (128, 256, 16), (150, 512, 50)] {
        let (w, x) = (randn(n * k), randn(m * k));
        let (wq, wf) = quantized::<BlockQ8_0>(&w, k);
        let mut product = vec![0f32; m * n];
        k_quants::matmul((m, k, n), &x, &wq, &mut product).unwrap();
        let gap = relative_gap(&product, &f32_product(&x, &wf, k));
        assert!(
            gap < BF16_BOUND,
            "Q8_0 ({m},{k},{n}): matmul vs f32 gap {gap}"
        );
    }
}

/// Largest relative gap of the bf16 GEMM to f32: each input and weight keeps 8 bits of
/// mantissa (relative rounding 2^-9), and the errors of a k-term sum mostly cancel.
const BF16_BOUND: f32 = 0.01;

/// Weights quantized to `T` (rows of `k`) and those weights dequantized again.
fn quantized<T: GgmlType>(w: &[f32], k: usize) -> (Vec<T>, Vec<f32>) {
    let kb = k / T::BLCK_SIZE;
    let mut wq = vec![T::zeros(); w.len() / k * kb];
    for (row, blocks) in w.chunks(k).zip(wq.chunks_mut(kb)) {
        T::from_float(row, blocks);
    }
    let mut wf = vec![0f32; w.len()];
    for (blocks, row) in wq.chunks(kb).zip(wf.chunks_mut(k)) {
        T::to_float(blocks, row);
    }
    (wq, wf)
}

/// x (rows of k) times the rows of wf, in f32.
fn f32_product(x: &[f32], wf: &[f32], k: usize) -> Vec<f32> {
    x.chunks(k)
        .flat_map(|xr| {
            wf.chunks(k)
                .map(move |wr| xr.iter().zip(wr).map(|(a, b)| a * b).sum::<f32>())
        })
        .collect()
}

/// Whether this CPU takes the int8 path (elsewhere the same checks cover the fallbacks).
fn int8_cpu() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vnni");
    #[allow(unreachable_code)]
    false
}

/// Normal random values (the shapes' weights and inputs), from candle's generator.
fn randn(len: usize) -> Vec<f32> {
    Tensor::randn(0f32, 1.0, len, &Device::Cpu)
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// Largest |a - b| over the largest |b|.
fn relative_gap(a: &[f32], b: &[f32]) -> f32 {
    let gap = a
        .iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    gap / b.iter().map(|b| b.abs()).fold(0f32, f32::max)
}

fn matmul_agrees<T: GgmlType<VecDotType = BlockQ8K>>() {
    let dtype = T::DTYPE;
    for (m, k, n) in [
        (1, 1536, 70),
        (2, 512, 33),
        (5, 256, 40),
        (8, 256, 32),
        (13, 1536, 70),
        (37, 512, 33),
        (1, 8960, 40),
        (9, 8960, 40),
        (64, 1536, 70),
        (130, 512, 70),
    ] {
        let kb = k / T::BLCK_SIZE;
        let (w, x) = (randn(n * k), randn(m * k));
        let (wq, wf) = quantized::<T>(&w, k);
        let mut product = vec![0f32; m * n];
        k_quants::matmul((m, k, n), &x, &wq, &mut product).unwrap();

        // The crate's vec-dot over Q8_K inputs, element by element.
        let mut vec_dot = Vec::with_capacity(m * n);
        for xr in x.chunks(k) {
            let mut q8 = vec![BlockQ8K::zeros(); kb];
            BlockQ8K::from_float(xr, &mut q8);
            for c in 0..n {
                vec_dot.push(T::vec_dot(k, &wq[c * kb..(c + 1) * kb], &q8));
            }
        }
        let f32_product = f32_product(&x, &wf, k);
        let same_quantization = relative_gap(&product, &vec_dot);
        let quantization = relative_gap(&product, &f32_product);

        if m >= k_quants::amx_min_rows() && k_quants::amx_available() {
            // The bf16 GEMM: within bf16 rounding of f32, and closer to it than Q8_K inputs
            // (which the int8 path would have matched).
            assert!(
                quantization < BF16_BOUND,
                "{dtype:?} ({m},{k},{n}): AMX matmul vs f32 gap {quantization}"
            );
            let q8_gap = relative_gap(&vec_dot, &f32_product);
            assert!(
                quantization < q8_gap,
                "{dtype:?} ({m},{k},{n}): AMX gap {quantization} to f32 is not below Q8_K's {q8_gap}"
            );
            continue;
        }
        // Without int8 kernels, 32+ rows take the f32 GEMM, which does not round the inputs.
        let bound = if int8_cpu() || m < 32 { 1e-4 } else { 0.02 };
        assert!(
            same_quantization < bound,
            "{dtype:?} ({m},{k},{n}): matmul vs vec-dot gap {same_quantization}"
        );
        assert!(
            quantization < 0.02,
            "{dtype:?} ({m},{k},{n}): matmul vs f32 gap {quantization}"
        );
        if int8_cpu() {
            // The int8 path rounds the inputs; the f32 fallback (from 32 rows) would not, and
            // its accumulation order differs from the vec-dot's.
            assert!(
                quantization > 0.0 && same_quantization > 0.0,
                "{dtype:?} ({m},{k},{n}): the int8 path did not run"
            );
        }
    }
}
