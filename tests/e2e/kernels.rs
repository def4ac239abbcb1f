//! The patched candle-core kernel that multiplies prompts (8+ rows) by Q4_K weights in int8
//! (scripts/patches/candle-core-0.10.2.diff; AVX-512 VNNI, chosen at run time). It must agree
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
    let dev = Device::Cpu;
    for (m, k, n) in [(8, 256, 32), (13, 1536, 70), (37, 512, 33), (9, 8960, 40)] {
        let w = Tensor::randn(0f32, 1.0, (n, k), &dev).unwrap();
        let x = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
        let q = QTensor::quantize(&w, GgmlDType::Q4K).unwrap();
        let f32_product = x.matmul(&q.dequantize(&dev).unwrap().t().unwrap()).unwrap();
        let mm = QMatMul::from_qtensor(q).unwrap();
        let prompt = mm.forward(&x).unwrap();
        assert_eq!(prompt.dims(), &[m, n]);
        let rows: Vec<Tensor> = (0..m)
            .map(|r| mm.forward(&x.i(r..r + 1).unwrap()).unwrap())
            .collect();
        let one_row = Tensor::cat(&rows, 0).unwrap();
        let same_path = relative_gap(&prompt, &one_row);
        assert!(
            same_path < 1e-4,
            "({m},{k},{n}): prompt vs one-row gap {same_path}"
        );
        let quantization = relative_gap(&prompt, &f32_product);
        assert!(
            quantization < 0.02,
            "({m},{k},{n}): prompt vs f32 gap {quantization}"
        );
        assert!(
            quantization > 0.0,
            "({m},{k},{n}): no Q8_K rounding at all is suspicious"
        );
    }
}
