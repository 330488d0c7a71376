// axtrace's AxVisor test guest: a bare-metal aarch64 program that makes every kind of VM exit
// on purpose, a known number of times, so the exits axtrace records can be checked exactly.
//
// Built by xtask/src/axvisor/guest.rs, which also knows the exits it causes (`expected_exits`):
//   clang --target=aarch64-none-elf -c guest.S -D...  &&  ld.lld -T guest.ld  &&  objcopy -O binary
//
// Parameters (-D, all required): VM_ID (1-9), VCPU0_MPIDR / VCPU1_MPIDR (the guest MPIDRs,
// which AxVisor sets to the configured phys_cpu_ids, each < 16), END_FAULT (0: PSCI SYSTEM_OFF,
// 1: read an unbacked guest-physical address), and per vCPU v in {0, 1} the action counts
// V<v>_HVC, V<v>_PSCI_VERSION, V<v>_TIMER_READS, V<v>_MMIO_READS, V<v>_MMIO_WRITES,
// V<v>_SYSREG_READS, V<v>_SYSREG_WRITES, V<v>_WFI, V<v>_SGIS.
//
// The run: vCPU 0 starts at _start and powers vCPU 1 on (PSCI CPU_ON). Each vCPU enables its
// virtual-timer PPI in its redistributor and then runs its actions, one block per kind. vCPU 1
// sets a flag in memory and powers itself off (PSCI CPU_OFF); vCPU 0 waits for the flag, waits
// until AxVisor reports vCPU 1 off (PSCI AFFINITY_INFO), prints one line on the UART and ends the
// VM: SYSTEM_OFF, or a load from a hole in guest-physical memory, which no device claims, so
// AxVisor stops the VM with a fault.
//
// Deterministic by construction: PSTATE.{D,A,I,F} stay masked (AxVisor enters EL1h with all
// four set), no vectors are installed, and both virtual interrupt groups are disabled
// (ICC_IGRPEN{0,1}_EL1 = 0), so no interrupt is ever signalled to the vCPU. Hence every WFI
// traps (a WFI with an interrupt signalled completes at once, without a trap); AxVisor resumes
// it when the timer deadline passes, or at once if its vGIC holds a pending interrupt (the
// peer's SGIs), which changes no count. Each block below makes exactly the exits it names; the
// only others are host interrupts that arrive while the guest runs.

// Guest-physical layout (AxVisor's virtual platform for QEMU virt, GICv3).
#define GICD_BASE        0x08000000  // emulated distributor (arm_vgic)
#define GICD_CTLR        0x0
#define GICD_IIDR        0x8
#define GICD_IIDR_VALUE  0x43b       // what arm_vgic answers
#define GICR_BASE        0x080a0000  // emulated redistributors, one 128 KiB frame pair per vCPU
#define GICR_STRIDE      0x20000
#define GICR_ISENABLER0  0x10100     // in the SGI frame
#define UART_BASE        0x09000000  // AxVisor's virtual PL011; UARTDR at offset 0
#define UNBACKED_GPA     0x60000000  // below guest RAM (0x8000_0000): no memory, no device

// PSCI 0.2 function ids (SMC32 / SMC64 calling convention).
#define PSCI_VERSION          0x84000000  // answered in AxVisor's trap layer: exit Nothing
#define PSCI_CPU_OFF          0x84000002
#define PSCI_SYSTEM_OFF       0x84000008
#define PSCI_MIGRATE_INFO_TYPE 0x84000006 // our plain hypercall: handled without a log line
#define PSCI_CPU_ON_64        0xc4000003
#define PSCI_AFFINITY_INFO_64 0xc4000004
#define AFFINITY_OFF          1

#define VTIMER_PPI       27          // the virtual timer's PPI on QEMU virt
#define SGI_FROM_VCPU0   1           // SGI ids, so the two directions differ in traces
#define SGI_FROM_VCPU1   2
#define DIR_INTID        15          // ICC_DIR_EL1 operand: an SGI that is never active
#define WFI_TICK_SHIFT   10          // WFI deadline: CNTFRQ >> 10 ticks, about 1 ms

    .macro mov32 reg, value
    movz    \reg, #((\value) & 0xffff)
    movk    \reg, #(((\value) >> 16) & 0xffff), lsl #16
    .endm

    // Runs the instructions between `times` and `endtimes` `count` times (x19 counts).
    .macro times count
    mov     x19, #(\count)
    cbz     x19, 9f
8:
    .endm
    .macro endtimes
    subs    x19, x19, #1
    b.ne    8b
9:
    .endm

    // Spins, without any exit, for x20 << \shift virtual-counter ticks.
    .macro delay shift
    mrs     x1, cntvct_el0
    add     x2, x1, x20, lsl #(\shift)
7:  mrs     x1, cntvct_el0
    cmp     x1, x2
    b.lo    7b
    .endm

    // Sets up the vCPU: x20 = WFI deadline in ticks, x21 = GICD, x22 = UART, x24 = this vCPU's
    // redistributor SGI frame; enables the virtual-timer PPI there (one MMIO write), so a timer
    // that expires before its WFI traps is still seen as pending by AxVisor and the WFI returns.
    .macro vcpu_setup index
    msr     icc_igrpen0_el1, xzr        // ICV_* under HCR_EL2.{FMO,IMO}: no trap
    msr     icc_igrpen1_el1, xzr
    isb
    mrs     x20, cntfrq_el0             // not trapped at EL1
    lsr     x20, x20, #WFI_TICK_SHIFT
    mov32   x21, GICD_BASE
    mov32   x22, UART_BASE
    mov32   x24, (GICR_BASE + (\index) * GICR_STRIDE + 0x10000)
    mov     w1, #(1 << VTIMER_PPI)
    str     w1, [x24, #(GICR_ISENABLER0 - 0x10000)]    // MmioWrite
    .endm

    // The scripted actions of one vCPU, one block per exit kind (x23 = ICC_SGI1R_EL1 value).
    .macro actions hvc, version, timer_reads, mmio_reads, mmio_writes, sysreg_reads, sysreg_writes, wfi, sgis
    times   \hvc                        // Hypercall { nr: 0x84000006 }: returns 2, logs nothing
    mov32   x0, PSCI_MIGRATE_INFO_TYPE
    hvc     #0
    endtimes

    times   \version                    // PSCI_VERSION: the trap layer answers: Nothing
    mov32   x0, PSCI_VERSION
    hvc     #0
    endtimes

    times   \timer_reads                // CNTP_CTL_EL0 traps (CNTHCTL_EL2.EL1PCEN = 0); the
    mrs     x1, cntp_ctl_el0            // trap layer emulates the physical timer: Nothing
    endtimes

    times   \mmio_reads                 // MmioRead of the emulated GICD_IIDR
    ldr     w1, [x21, #GICD_IIDR]
    cmp     w1, #GICD_IIDR_VALUE        // arm_vgic's value: a wrong one ends the run early
    b.ne    fail
    endtimes

    times   \mmio_writes                // MmioWrite GICD_CTLR = 0: the distributor stays off
    str     wzr, [x21, #GICD_CTLR]
    endtimes

    times   \sysreg_reads               // ICC_PMR_EL1 reads ICV_PMR_EL1: no exit, as AxVisor
    mrs     x1, icc_pmr_el1             // traps the common GIC registers (ICH_HCR_EL2.TC) only
    endtimes                            // where ICH_VTR_EL2.TDS = 0, and QEMU has TDS

    times   \sysreg_writes              // ICC_DIR_EL1 traps (ICH_HCR_EL2.TDIR):
    mov     x1, #DIR_INTID              // DeactivateInterrupt of an inactive SGI, a no-op
    msr     icc_dir_el1, x1
    endtimes

    times   \wfi                        // arm the virtual timer ~1 ms ahead, WFI (traps:
    mrs     x1, cntvct_el0              // WaitForInterrupt; AxVisor blocks the vCPU until
    add     x1, x1, x20                 // the deadline), disarm
    msr     cntv_cval_el0, x1
    mov     x1, #1                      // ENABLE, not IMASK
    msr     cntv_ctl_el0, x1
    isb
    wfi
    msr     cntv_ctl_el0, xzr
    isb
    endtimes

    times   \sgis                       // ICC_SGI1R_EL1 traps (HCR_EL2.IMO): SendIPI
    msr     icc_sgi1r_el1, x23
    endtimes
    .endm

    .section .text.boot, "ax"
    .global _start
_start:
    vcpu_setup 0

    // Power vCPU 1 on at vcpu1_entry: Hypercall CPU_ON (deferred; returns 0 on success).
    mov32   x0, PSCI_CPU_ON_64
    mov     x1, #VCPU1_MPIDR
    adr     x2, vcpu1_entry
    mov     x3, #0
    hvc     #0
    cbnz    x0, fail

    mov32   x23, ((SGI_FROM_VCPU0 << 24) | (1 << VCPU1_MPIDR))
    isb                                 // x25 = virtual-counter ticks over vCPU 0's actions
    mrs     x25, cntvct_el0             // (callee-saved across hvc under the SMCCC)
    actions V0_HVC, V0_PSCI_VERSION, V0_TIMER_READS, V0_MMIO_READS, V0_MMIO_WRITES, V0_SYSREG_READS, V0_SYSREG_WRITES, V0_WFI, V0_SGIS
    isb
    mrs     x26, cntvct_el0
    sub     x25, x26, x25

    // Wait for vCPU 1's flag (no exits), give its CPU_OFF time to land, then confirm it
    // with AFFINITY_INFO: one Hypercall, more only if vCPU 1 is still on after ~16 ms.
    // (SYSTEM_OFF or the fault before vCPU 1's CPU_OFF exit would lose that exit.)
    adr     x1, vcpu1_done
1:  ldr     w2, [x1]
    cbz     w2, 1b
2:  delay   4
    mov32   x0, PSCI_AFFINITY_INFO_64
    mov     x1, #VCPU1_MPIDR
    mov     x2, #0
    hvc     #0
    cmp     x0, #AFFINITY_OFF
    b.ne    2b

    // One line on the virtual UART, one MmioWrite per byte: the banner, the ticks vCPU 0's
    // actions took as 16 hex digits (what `axvisor bench` reads), a newline.
    adr     x1, banner
    adr     x2, banner_end
3:  ldrb    w3, [x1], #1
    str     w3, [x22]
    cmp     x1, x2
    b.lo    3b
    mov     x4, #60
4:  lsr     x5, x25, x4
    and     x5, x5, #0xf
    add     x6, x5, #'0'
    add     x7, x5, #('a' - 10)
    cmp     x5, #10
    csel    x5, x6, x7, lo
    str     w5, [x22]
    subs    x4, x4, #4
    b.pl    4b
    mov     w5, #'\n'
    str     w5, [x22]

#if END_FAULT
    mov32   x1, UNBACKED_GPA            // MmioRead that no device claims: AxVisor stops the
    ldr     w0, [x1]                    // VM with a fault (a stage-2 translation fault)
#else
    mov32   x0, PSCI_SYSTEM_OFF         // Hypercall SYSTEM_OFF: the VM stops (SystemDown)
    hvc     #0
#endif
halt:
    b       halt                        // not reached; spinning causes no exits

    // Something AxVisor answered unexpectedly: say so and stop the VM.
fail:
    mov     w1, #'!'
    str     w1, [x22]
    mov32   x0, PSCI_SYSTEM_OFF
    hvc     #0
    b       halt

vcpu1_entry:
    vcpu_setup 1
    mov32   x23, ((SGI_FROM_VCPU1 << 24) | (1 << VCPU0_MPIDR))
    actions V1_HVC, V1_PSCI_VERSION, V1_TIMER_READS, V1_MMIO_READS, V1_MMIO_WRITES, V1_SYSREG_READS, V1_SYSREG_WRITES, V1_WFI, V1_SGIS

    adr     x1, vcpu1_done
    mov     w2, #1
    str     w2, [x1]
    dsb     sy
    mov32   x0, PSCI_CPU_OFF            // Hypercall CPU_OFF: does not return
    hvc     #0
    b       halt

    .section .rodata, "a"
    // Keep in sync with BANNER_PREFIX / BANNER_SUFFIX in guest.rs: each byte is an MmioWrite.
banner:
    .ascii  "axtrace-guest vm"
    .byte   '0' + VM_ID
    .ascii  " done "
banner_end:

    .section .data, "aw"
    .balign 64
vcpu1_done:
    .word   0
