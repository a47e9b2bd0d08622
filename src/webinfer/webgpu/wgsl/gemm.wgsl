// Tiled matrix product Y = epilogue(A @ B), A [M, K] and B [K, N], on a grid of TM x TN output tiles
// (z: the batch, or a convolution's group). Each thread accumulates a WM x WN block in registers
// (WN / 4 vec4 per row). Tiles of depth TK pass through workgroup memory k-major in groups of four
// rows (columns): tile_a[g][k] holds A[m0 + 4g .. 4g + 3, k0 + k], tile_b[g][k] B[k0 + k, n0 + 4g ..
// 4g + 3], each group padded to TK + 1 vec4s (odd) so that threads reading neighbouring groups at
// one k hit different banks. The next step's operands are fetched into registers while the current
// tiles are multiplied; the loop (matmul.py) is single- or double-buffered.
// The operand functions come from matmul.wgsl or conv.wgsl: load_a(z, m, k); column(z, n), what B's
// column n needs (computed once when a thread's column stays fixed); load_b(column, k); load_a4 /
// load_b4, four elements along the operand's adjacent dimension (only where the operand is aligned);
// epilogue(z, m, n, acc) per result. The loads are called inside the matrices only.
const M = {{M}};
const N = {{N}};
const K = {{K}};
const TM = {{TM}};
const TN = {{TN}};
const TK = {{TK}};
const WM = {{WM}};
const WN = {{WN}};
const THREADS = TM / WM * (TN / WN);

{{TILES}}

{{OPERANDS}}

fn store(z: u32, m: u32, n: u32, v: vec4<f32>) {
    if (m >= M) {
        return;
    }
    for (var c = 0u; c < 4u; c++) {
        if (n + c < N) {
            epilogue(z, m, n + c, v[c]);
        }
    }
}

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let z = wg.z;
    let m0 = wg.y * TM;
    let n0 = wg.x * TN;
{{SETUP}}
{{LOOP}}
{{STORE}}
}
