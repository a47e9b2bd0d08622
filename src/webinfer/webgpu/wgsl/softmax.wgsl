// SOFTMAX over each row: exp(x - max) / sum, or with LOG (x - max) - log(sum).
const LOG = {{LOG}};

fn row_kernel(row: u32, lid: u32) {
    var top = f32_bits(0xff800000u);
    for (var j = lid; j < N; j += WG) {
        top = max(top, ld_x(at(row, j)));
    }
    top = wg_reduce(lid, top, 1u);
    var total = 0.0;
    for (var j = lid; j < N; j += WG) {
        total += exp(ld_x(at(row, j)) - top);
    }
    total = wg_reduce(lid, total, 0u);
    let log_total = log(total);
    for (var j = lid; j < N; j += WG) {
        let shifted = ld_x(at(row, j)) - top;
        st_y(at(row, j), select(exp(shifted) / total, shifted - log_total, LOG));
    }
}
