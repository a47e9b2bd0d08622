// Row kernels: one workgroup of WG threads per row of N elements, x viewed as [outer, N, INNER] and a
// row being x[o, :, i]. Threads stride over the row, then combine through workgroup memory.
const WG = {{WG}};
const N = {{N}};
const INNER = {{INNER}};
const ROWS = {{ROWS}};

var<workgroup> partial: array<f32, WG>;

// 0 sum, 1 max, 2 min, 3 product
fn combine(a: f32, b: f32, op: u32) -> f32 {
    switch op {
        case 1u: { return max(a, b); }
        case 2u: { return min(a, b); }
        case 3u: { return a * b; }
        default: { return a + b; }
    }
}

// The workgroup's combination of every thread's v, returned to all threads.
fn wg_reduce(lid: u32, v: f32, op: u32) -> f32 {
    partial[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s / 2u) {
        if (lid < s) {
            partial[lid] = combine(partial[lid], partial[lid + s], op);
        }
        workgroupBarrier();
    }
    let r = partial[0];
    workgroupBarrier();
    return r;
}

// Element j of row `row` (as an index into x).
fn at(row: u32, j: u32) -> u32 {
    return (row / INNER) * N * INNER + j * INNER + row % INNER;
}

// The kernel's row_kernel(row, lid) for each row, one workgroup each (the grid may fold rows into y).
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let row = wg.x + wg.y * nwg.x;
    if (row < ROWS) {
        row_kernel(row, lid);
    }
}
