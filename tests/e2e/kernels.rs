//! The patched candle-core kernels that multiply prompts (8+ rows) by Q4_K and Q6_K weights in
//! int8 (scripts/patches/candle-core-0.10.2.diff; AVX-512 VNNI, chosen at run time). They must agree
//! with the crate's own one-row path, which quantizes the inputs the same way (Q8_K) and runs
//! unpatched code, and with an f32 product over the dequantized weights up to that
//! quantization. Shapes cover full 8-row tiles, the 4- and 1-row remainders, a column count
//! that is not a multiple of the 32-column task size, and the model's widest inner dimension.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, IndexOp, Module, Tensor};

/// Largest |a - b| over the largest |b|.
fn relative_gap(a: &Tensor, b: &Tensor) -> f32 {
    let gap = (a - b).unwrap().abs().unwrap().max_all().unwrap();
    let scale = b.abs().unwrap().max_all().unwrap();
    gap.to_scalar::<f32>().unwrap() / scale.to_scalar::<f32>().unwrap()
}

#[test]
fn q4k_prompt_matmul_agrees_with_the_one_row_path_and_with_f32() {
    prompt_matmul_agrees(GgmlDType::Q4K);
}

#[test]
fn q6k_prompt_matmul_agrees_with_the_one_row_path_and_with_f32() {
    prompt_matmul_agrees(GgmlDType::Q6K);
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

fn prompt_matmul_agrees(dtype: GgmlDType) {
    let dev = Device::Cpu;
    for (m, k, n) in [(8, 256, 32), (13, 1536, 70), (37, 512, 33), (9, 8960, 40)] {
        let w = Tensor::randn(0f32, 1.0, (n, k), &dev).unwrap();
        let x = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
        let q = QTensor::quantize(&w, dtype).unwrap();
        let f32_product = x.matmul(&q.dequantize(&dev).unwrap().t().unwrap()).unwrap();
        let mm = QMatMul::from_qtensor(q).unwrap();
        let prompt = mm.forward(&x).unwrap();
        assert_eq!(prompt.dims(), &[m, n]);
        let rows: Vec<Tensor> = (0..m)
            .map(|r| mm.forward(&x.i(r..r + 1).unwrap()).unwrap())
            .collect();
        let one_row = Tensor::cat(&rows, 0).unwrap();
        let same_path = relative_gap(&prompt, &one_row);
        // Without int8 kernels, 32+ rows take the f32 GEMM, which does not round the inputs.
        let bound = if int8_cpu() { 1e-4 } else { 0.02 };
        assert!(
            same_path < bound,
            "{dtype:?} ({m},{k},{n}): prompt vs one-row gap {same_path}"
        );
        let quantization = relative_gap(&prompt, &f32_product);
        assert!(
            quantization < 0.02,
            "{dtype:?} ({m},{k},{n}): prompt vs f32 gap {quantization}"
        );
        if int8_cpu() {
            // The int8 path rounds the inputs; the f32 fallback (from 32 rows) would not.
            assert!(
                quantization > 0.0,
                "{dtype:?} ({m},{k},{n}): the int8 path did not run"
            );
        }
    }
}
