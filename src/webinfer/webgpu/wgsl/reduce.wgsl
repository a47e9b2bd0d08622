// REDUCE: y[row] = op over the row (MEAN: the sum divided by N). Rows of nothing give the identity.
const OP = {{OP}};

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let row = row_of(wg, nwg);
    if (row >= ROWS) {
        return;
    }
    var acc = {{IDENTITY}};
    for (var j = lid; j < N; j += WG) {
        acc = combine(acc, ld_x(at(row, j)), OP);
    }
    let total = wg_reduce(lid, acc, OP);
    if (lid == 0u) {
        st_y(row, {{RESULT}});
    }
}
