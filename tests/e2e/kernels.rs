//! The patched candle-core kernels that multiply inputs by Q4_K and Q6_K weights in int8
//! (scripts/patches/candle-core-0.10.2.diff; AVX-512 VNNI, chosen at run time): prompts (8+
//! rows) and decoding (fewer rows) alike. They must agree with the crate's own vec-dot, which
//! quantizes the inputs the same way (Q8_K) and is unpatched code, and with an f32 product over
//! the dequantized weights up to that quantization. Shapes cover one row (a decode step), the
//! 4- and 1-row tiles below 8 rows, full 8-row tiles, a column count that is not a multiple of
//! the 32-column task size, and the model's widest inner dimension.

use candle_core::quantized::k_quants::{self, BlockQ4K, BlockQ6K, BlockQ8K, GgmlType};
use candle_core::{Device, Tensor};

#[test]
fn q4k_matmul_agrees_with_the_crates_vec_dot_and_with_f32() {
    matmul_agrees::<BlockQ4K>();
}

#[test]
fn q6k_matmul_agrees_with_the_crates_vec_dot_and_with_f32() {
    matmul_agrees::<BlockQ6K>();
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
    ] {
        let kb = k / T::BLCK_SIZE;
        let (w, x) = (randn(n * k), randn(m * k));
        let mut wq = vec![T::zeros(); n * kb];
        for (row, blocks) in w.chunks(k).zip(wq.chunks_mut(kb)) {
            T::from_float(row, blocks);
        }
        let mut product = vec![0f32; m * n];
        k_quants::matmul((m, k, n), &x, &wq, &mut product).unwrap();

        // The crate's vec-dot over Q8_K inputs, element by element.
        let mut vec_dot = Vec::with_capacity(m * n);
        // The f32 product over the dequantized weights.
        let mut wf = vec![0f32; n * k];
        for (blocks, row) in wq.chunks(kb).zip(wf.chunks_mut(k)) {
            T::to_float(blocks, row);
        }
        let mut f32_product = Vec::with_capacity(m * n);
        for xr in x.chunks(k) {
            let mut q8 = vec![BlockQ8K::zeros(); kb];
            BlockQ8K::from_float(xr, &mut q8);
            for c in 0..n {
                vec_dot.push(T::vec_dot(k, &wq[c * kb..(c + 1) * kb], &q8));
                let wr = &wf[c * k..(c + 1) * k];
                f32_product.push(xr.iter().zip(wr).map(|(a, b)| a * b).sum::<f32>());
            }
        }

        let same_quantization = relative_gap(&product, &vec_dot);
        // Without int8 kernels, 32+ rows take the f32 GEMM, which does not round the inputs.
        let bound = if int8_cpu() || m < 32 { 1e-4 } else { 0.02 };
        assert!(
            same_quantization < bound,
            "{dtype:?} ({m},{k},{n}): matmul vs vec-dot gap {same_quantization}"
        );
        let quantization = relative_gap(&product, &f32_product);
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
