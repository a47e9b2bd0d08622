// What both GEMM/CONV kernels share (gemm.wgsl: tiled; gemm_direct.wgsl: direct): the product
// Y = epilogue(A @ B), A [M, K] and B [K, N], per z (the batch, or a convolution's group), on a grid
// of TM x TN output blocks. The operand functions come from matmul.wgsl or conv.wgsl: load_a(z, m, k);
// column(z, n), what B's column n needs (computed once per column a thread keeps); load_b(column,
// k); load_a4 / load_b4, four elements along the operand's adjacent dimension (only where the
// operand is aligned); epilogue(z, m, n, acc) per result (under split-K, split.wgsl: the slice's
// partial product instead). The loads are called inside the matrices only.
const M = {{M}};
const N = {{N}};
const K = {{K}};

fn store(z: u32, m: u32, n: u32, v: vec4<f32>) {
    if (m >= M) {
        return;
    }
    for (var c = 0u; c < 4u; c++) {
        if (n + c < N) {
            {{RESULT}}
        }
    }
}
