// LAYERNORM of each row: (x - mean) / sqrt(variance + EPS) * scale + bias (two passes for the variance).
const EPS = {{EPS}};

fn row_kernel(row: u32, lid: u32) {
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
