// LAYERNORM of each row: (x - mean) / sqrt(variance + EPS) * scale + bias (two passes for the variance).
const EPS = {{EPS}};

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let row = row_of(wg, nwg);
    if (row >= ROWS) {
        return;
    }
    var sum = 0.0;
    for (var j = lid; j < N; j += WG) {
        sum += ld_x(at(row, j));
    }
    let mean = wg_reduce(lid, sum, 0u) / f32(N);
    var squares = 0.0;
    for (var j = lid; j < N; j += WG) {
        let d = ld_x(at(row, j)) - mean;
        squares = fma(d, d, squares);
    }
    let inv = 1.0 / sqrt(wg_reduce(lid, squares, 0u) / f32(N) + EPS);
    for (var j = lid; j < N; j += WG) {
        st_y(at(row, j), (ld_x(at(row, j)) - mean) * inv * ld_scale(j){{BIAS}});
    }
}
