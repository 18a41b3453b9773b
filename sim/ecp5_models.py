"""Behavioural Verilog models of the vendor primitives the ECP5 target instantiates, for simulation only.

Yosys ships the ECP5 ``MULT18X18D`` as a blackbox (no simulation model), so the netlist of the ``ecp5``
emission target (:mod:`macforge.rtl.dsp`) could not run in Verilator. :data:`MULT18X18D_MODEL` models the
primitive in the one configuration :class:`macforge.rtl.dsp.RegisteredProduct` uses, following the Lattice
sysDSP description: signed 18 x 18 operands from the ``A``/``B`` pins, optional input registers
(``REG_INPUTA_CLK``/``REG_INPUTB_CLK``) and output register (``REG_OUTPUT_CLK``) on ``CLK0`` with clock
enable ``CE0`` and synchronous reset ``RST0`` (``RESETMODE = "SYNC"``), reset taking priority over the
enable. Other settings are refused at elaboration (``$error``), so the model cannot silently simulate a
mode it does not implement. It is a model of our reading of the datasheet, not Lattice's: what it checks
is macforge's wiring of the primitive (bit order, signedness, register timing, enables, reset).
"""

_A = ", ".join(f"A{i}" for i in range(18))
_B = ", ".join(f"B{i}" for i in range(18))
_P = ", ".join(f"P{i}" for i in range(36))
_A_CAT = ", ".join(f"A{i}" for i in reversed(range(18)))
_B_CAT = ", ".join(f"B{i}" for i in reversed(range(18)))
_P_CAT = ", ".join(f"P{i}" for i in reversed(range(36)))

MULT18X18D_MODEL = f"""\
// Simulation model of the Lattice ECP5 MULT18X18D, only the mode macforge instantiates (macforge.sim.ecp5_models).
/* verilator lint_off UNUSEDPARAM */
module MULT18X18D #(
    parameter REG_INPUTA_CLK = "NONE", parameter REG_INPUTA_CE = "CE0", parameter REG_INPUTA_RST = "RST0",
    parameter REG_INPUTB_CLK = "NONE", parameter REG_INPUTB_CE = "CE0", parameter REG_INPUTB_RST = "RST0",
    parameter REG_OUTPUT_CLK = "NONE", parameter REG_OUTPUT_CE = "CE0", parameter REG_OUTPUT_RST = "RST0",
    parameter RESETMODE = "SYNC", parameter GSR = "ENABLED"
) (
    input {_A},
    input {_B},
    input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB, CLK0, CE0, RST0,
    output {_P}
);
    generate
        if (RESETMODE != "SYNC" || REG_INPUTA_CE != "CE0" || REG_INPUTB_CE != "CE0" || REG_OUTPUT_CE != "CE0"
            || REG_INPUTA_RST != "RST0" || REG_INPUTB_RST != "RST0" || REG_OUTPUT_RST != "RST0"
            || (REG_INPUTA_CLK != "NONE" && REG_INPUTA_CLK != "CLK0")
            || (REG_INPUTB_CLK != "NONE" && REG_INPUTB_CLK != "CLK0")
            || (REG_OUTPUT_CLK != "NONE" && REG_OUTPUT_CLK != "CLK0"))
            $error("MULT18X18D model: only CLK0/CE0/RST0 registers with RESETMODE=SYNC are modelled");
    endgenerate
    wire signed [17:0] a = {{{_A_CAT}}};
    wire signed [17:0] b = {{{_B_CAT}}};
    reg signed [17:0] ra = 18'sd0, rb = 18'sd0;
    reg signed [35:0] rp = 36'sd0;
    wire signed [17:0] ma = (REG_INPUTA_CLK == "NONE") ? a : ra;
    wire signed [17:0] mb = (REG_INPUTB_CLK == "NONE") ? b : rb;
    // unsigned operands (SIGNEDA/B = 0) are zero-extended; macforge ties both to 1
    wire signed [35:0] prod = $signed({{SIGNEDA & ma[17], ma}}) * $signed({{SIGNEDB & mb[17], mb}});
    always @(posedge CLK0) begin
        if (RST0) begin
            ra <= 18'sd0; rb <= 18'sd0; rp <= 36'sd0;
        end else if (CE0) begin
            ra <= a; rb <= b; rp <= prod;
        end
    end
    wire _unused = &{{1'b0, SOURCEA, SOURCEB, 1'b0}};
    assign {{{_P_CAT}}} = (REG_OUTPUT_CLK == "NONE") ? prod : rp;
endmodule
/* verilator lint_on UNUSEDPARAM */
"""
