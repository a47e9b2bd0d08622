// CAST: y[i] = convert(x[i]) between the two dtypes (float -> int truncates, -> bool is x != 0).

fn convert(v: {{FROM}}) -> {{TO}} {
    return {{CONVERT}};
}

fn element(i: u32) {
    st_y(i, convert(ld_x(i)));
}
