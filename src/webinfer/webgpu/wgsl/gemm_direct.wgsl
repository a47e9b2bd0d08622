// The direct product (product.wgsl), without workgroup memory or barriers: each thread accumulates a
// WM x WN block in registers (WN / 4 vec4 per row), reading its operands straight from global
// memory, TK k per iteration of a plain loop (the last K % TK one by one). A thread's rows are
// adjacent; its groups of four columns lie ACROSS groups apart, so that neighbouring threads read
// neighbouring columns. CPU renderers compile it in seconds where the tiled product takes them
// minutes (SwiftShader runs every barrier as a coroutine switch), and a product of a few rows
// spends no threads on rows of padding.
const TM = {{TM}};
const TN = {{TN}};
const TK = {{TK}};
const WM = {{WM}};
const WN = {{WN}};
const ACROSS = TN / WN;  // threads along n
const K_MAIN = K / TK * TK;

@compute @workgroup_size(TM / WM * ACROSS)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let z = wg.z;
    let m = wg.y * TM + lid / ACROSS * WM;
    let n = wg.x * TN + lid % ACROSS * 4u;
{{SETUP}}
    for (var k = 0u; k < K_MAIN; k += TK) {
{{STEP}}
    }
{{TAIL}}
{{STORE}}
}
