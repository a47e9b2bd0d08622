// WHERE: out[i] = cond[i_cond] ? x[i_x] : y[i_y], moving raw bits (any dtype).

fn element(i: u32) {
{{INDEX}}
    if (ld_cond(i_cond) != 0u) {
        str_out(i, ldr_x(i_x));
    } else {
        str_out(i, ldr_y(i_y));
    }
}
