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


def _pins(prefix: str, n: int) -> str:
    return ", ".join(f"{prefix}{i}" for i in range(n))


def _cat(prefix: str, n: int) -> str:
    return ", ".join(f"{prefix}{i}" for i in reversed(range(n)))


DP16KD_MODEL = f"""\
// Simulation model of the Lattice ECP5 DP16KD, only the mode macforge instantiates (macforge.sim.ecp5_models):
// port A writes, port B reads, both in the same data width (1, 2, 4, 9, 18 or 36), chip selects unused,
// port B's read enabled by CEB, its output register optional (REGMODE_B = "OUTREG": read data one cycle
// later, enabled by OCEB). 18 bits: ADA[1:0] are byte enables; 36 bits (simple dual port): the word is
// {{DIB, DIA}} / {{DOB, DOA}}, ADA[3:0] are the four byte enables, the address is ADA/ADB[13:5], and the
// low half leaves through port A's output register (REGMODE_A = REGMODE_B, enabled by OCEA).
// A read of the address written in the same cycle returns the old word.
/* verilator lint_off UNUSEDPARAM */
/* verilator lint_off UNUSEDSIGNAL */
module DP16KD #(
    parameter DATA_WIDTH_A = 18, parameter DATA_WIDTH_B = 18, parameter REGMODE_A = "NOREG",
    parameter REGMODE_B = "NOREG", parameter RESETMODE = "SYNC", parameter ASYNC_RESET_RELEASE = "SYNC",
    parameter CSDECODE_A = "0b000", parameter CSDECODE_B = "0b000", parameter WRITEMODE_A = "NORMAL",
    parameter WRITEMODE_B = "NORMAL", parameter GSR = "ENABLED"
) (
    input {_pins("DIA", 18)}, {_pins("ADA", 14)}, CEA, OCEA, CLKA, WEA, CSA0, CSA1, CSA2, RSTA,
    input {_pins("DIB", 18)}, {_pins("ADB", 14)}, CEB, OCEB, CLKB, WEB, CSB0, CSB1, CSB2, RSTB,
    output {_pins("DOA", 18)},
    output {_pins("DOB", 18)}
);
    localparam W = DATA_WIDTH_A;
    localparam SH = (W == 1) ? 0 : (W == 2) ? 1 : (W == 4) ? 2 : (W == 9) ? 3 : (W == 18) ? 4 : 5;
    generate
        if (DATA_WIDTH_A != DATA_WIDTH_B || !(W == 1 || W == 2 || W == 4 || W == 9 || W == 18 || W == 36)
            || !(REGMODE_B == "NOREG" || REGMODE_B == "OUTREG")
            || (W == 36 ? REGMODE_A != REGMODE_B : REGMODE_A != "NOREG")
            || CSDECODE_A != "0b000" || CSDECODE_B != "0b000")
            $error("DP16KD model: only equal port widths, port A writing, port B reading are modelled");
    endgenerate
    wire [35:0] di = {{{_cat("DIB", 18)}, {_cat("DIA", 18)}}};
    wire [13:0] ada = {{{_cat("ADA", 14)}}};
    wire [13:0] adb = {{{_cat("ADB", 14)}}};
    // byte enables: 36 bits ADA[3:0], 18 bits ADA[1:0], narrower modes none
    wire [3:0] be = (W == 36) ? ada[3:0] : (W == 18) ? {{2'b00, ada[1:0]}} : 4'b0001;
    reg [W-1:0] mem [0:(16384 >> SH) - 1];
    reg [W-1:0] rd = 0, rq = 0;     // read latch; output register (36 bits: low half OCEA, high half OCEB)
    integer i;
    initial for (i = 0; i < (16384 >> SH); i = i + 1) mem[i] = 0;
    always @(posedge CLKA) if (CEA && WEA) begin
        for (i = 0; i < W; i = i + 1)
            if (W < 18 || be[i / 9]) mem[ada >> SH][i] <= di[i];
    end
    always @(posedge CLKB) if (CEB) rd <= mem[adb >> SH];
    generate
        if (W == 36) begin : g36
            always @(posedge CLKA) if (OCEA) rq[17:0] <= rd[17:0];
            always @(posedge CLKB) if (OCEB) rq[35:18] <= rd[35:18];
        end else begin : gn
            always @(posedge CLKB) if (OCEB) rq <= rd;
        end
    endgenerate
    wire [35:0] dout = 36'((REGMODE_B == "OUTREG") ? rq : rd);     // zero-extended
    assign {{{_cat("DOB", 18)}}} = (W == 36) ? dout[35:18] : dout[17:0];
    assign {{{_cat("DOA", 18)}}} = (W == 36) ? dout[17:0] : 18'd0;
endmodule
/* verilator lint_on UNUSEDSIGNAL */
/* verilator lint_on UNUSEDPARAM */
"""

#: every primitive model, for a netlist of the ``ecp5`` target
ECP5_MODELS = MULT18X18D_MODEL + DP16KD_MODEL
