// Tiled matrix product Y = epilogue(A @ B), A [M, K] and B [K, N], on a grid of TM x TN output tiles
// (z: the batch, or a convolution's group). Each thread accumulates a WM x WN block in registers
// (WN / 4 vec4 per row). Tiles of depth TK pass through workgroup memory, A's k-major so that a thread
// reads its WM rows at once, rows padded by 4 floats so that stores of one k-column spread over the
// banks. The next tiles' values are fetched into registers while the current tiles are multiplied.
// The operand functions come from matmul.wgsl or conv.wgsl: load_a(z, m, k); column(z, n), what B's
// column n needs (computed once when a thread's column stays fixed); load_b(column, k);
// epilogue(z, m, n, acc) per result. load_a and load_b are called inside the matrices only.
const M = {{M}};
const N = {{N}};
const K = {{K}};
const TM = {{TM}};
const TN = {{TN}};
const TK = {{TK}};
const WM = {{WM}};
const WN = {{WN}};
const COLS = TN / WN;
const THREADS = TM / WM * COLS;
const A_ROW = TM + 4u;
const B_ROW = TN + 4u;

var<workgroup> tile_a: array<vec4<f32>, TK * A_ROW / 4u>;
var<workgroup> tile_b: array<vec4<f32>, TK * B_ROW / 4u>;

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
    let tm = lid / COLS * WM;
    let tn = lid % COLS * WN;
{{SETUP}}
    var kf = 0u;
{{FETCH}}
    for (var k0 = 0u; k0 < K; k0 += TK) {
{{STASH}}
        workgroupBarrier();
        kf = k0 + TK;
        if (kf < K) {
{{FETCH}}
        }
        for (var k = 0u; k < TK; k++) {
{{PRODUCT}}
        }
        workgroupBarrier();
    }
{{STORE}}
}
