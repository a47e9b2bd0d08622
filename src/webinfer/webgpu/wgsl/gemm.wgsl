// The tiled product (product.wgsl): each thread accumulates a WM x WN block in registers (WN / 4
// vec4 per row). Tiles of depth TK pass through workgroup memory k-major in groups of four rows
// (columns): tile_a[g][k] holds A[m0 + 4g .. 4g + 3, k0 + k], tile_b[g][k] B[k0 + k, n0 + 4g ..
// 4g + 3], each group padded to TK + 1 vec4s (odd) so that threads reading neighbouring groups at
// one k hit different banks. The next step's operands are fetched into registers while the current
// tiles are multiplied; the loop (matmul.py) is single- or double-buffered.
const TM = {{TM}};
const TN = {{TN}};
const TK = {{TK}};
const WM = {{WM}};
const WN = {{WN}};
const THREADS = TM / WM * (TN / WN);

{{TILES}}

@compute @workgroup_size(THREADS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let z = {{Z}};
    let m0 = wg.y * TM;
    let n0 = wg.x * TN;
{{SETUP}}
{{LOOP}}
{{STORE}}
}
