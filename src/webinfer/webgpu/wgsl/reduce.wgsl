// REDUCE: y[row] = op over the row (MEAN: the sum divided by N). Rows of nothing give the identity.
const OP = {{OP}};

fn row_kernel(row: u32, lid: u32) {
    var acc = {{IDENTITY}};
    for (var j = lid; j < N; j += WG) {
        acc = combine(acc, ld_x(at(row, j)), OP);
    }
    let total = wg_reduce(lid, acc, OP);
    if (lid == 0u) {
        st_y(row, {{RESULT}});
    }
}
