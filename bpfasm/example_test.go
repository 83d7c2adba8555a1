package bpfasm_test

import (
	"fmt"

	"github.com/sandlock-go/sandlock-go/bpfasm"
)

// A filter that kills foreign architectures, fails getpid with EPERM when
// its (unused) first argument is 1, and allows everything else.
func ExampleBuilder() {
	const auditArchX86_64 = 0xc000003e
	var b bpfasm.Builder
	b.LoadArch()
	b.JumpIf(bpfasm.Eq, auditArchX86_64, "", "kill")
	b.LoadNr()
	b.JumpIf(bpfasm.Ne, 39, "allow", "") // getpid on amd64
	b.LoadArgLow(0)
	b.JumpIf(bpfasm.Eq, 1, "", "allow")
	b.RetAction(bpfasm.Errno(1))
	b.Label("allow")
	b.RetAction(bpfasm.ActionAllow)
	b.Label("kill")
	b.RetAction(bpfasm.ActionKillProcess)
	prog, err := b.Assemble()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(bpfasm.Program(prog))
	// Output:
	//    0: ld [4]                   ; arch
	//    1: jeq #0xc000003e jt 2 jf 8
	//    2: ld [0]                   ; nr
	//    3: jeq #39 jt 4 jf 7
	//    4: ld [16]                  ; args[0]
	//    5: jeq #1 jt 6 jf 7
	//    6: ret ERRNO(1)
	//    7: ret ALLOW
	//    8: ret KILL_PROCESS
}

// Errors name the PC and the label.
func ExampleBuilder_Assemble_error() {
	var b bpfasm.Builder
	b.Label("top")
	b.LoadNr()
	b.JumpIf(bpfasm.Eq, 1, "top", "")
	b.RetAction(bpfasm.ActionAllow)
	_, err := b.Assemble()
	fmt.Println(err)
	// Output:
	// bpfasm: pc 1 (label "top"): backward jump: label is at pc 0
}

func ExampleDisassemble() {
	prog := []bpfasm.Instruction{
		bpfasm.Stmt(bpfasm.Code(bpfasm.ClassLD, bpfasm.SizeW, bpfasm.ModeABS), bpfasm.OffsetNr),
		bpfasm.Jump(bpfasm.Code(bpfasm.ClassJMP, bpfasm.JGE, bpfasm.SrcK), 1024, 0, 1),
		bpfasm.Stmt(bpfasm.Code(bpfasm.ClassRET, bpfasm.RetK), uint32(bpfasm.Errno(38))),
		bpfasm.Stmt(bpfasm.Code(bpfasm.ClassRET, bpfasm.RetK), uint32(bpfasm.ActionUserNotif)),
	}
	fmt.Print(bpfasm.Disassemble(prog))
	// Output:
	//    0: ld [0]                   ; nr
	//    1: jge #1024 jt 2 jf 3
	//    2: ret ERRNO(38)
	//    3: ret USER_NOTIF
}

func ExampleParseText() {
	prog, err := bpfasm.ParseText(`
		ld [0]                ; nr
		jeq #39 jt +0 jf +1   ; getpid
		ret ERRNO(1)
		ret ALLOW`)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%+v", bpfasm.Program(prog))
	// Output:
	//    0: ld [0]                   ; {0x0020, 0, 0, 0x00000000} nr
	//    1: jeq #39 jt 2 jf 3        ; {0x0015, 0, 1, 0x00000027}
	//    2: ret ERRNO(1)             ; {0x0006, 0, 0, 0x00050001}
	//    3: ret ALLOW                ; {0x0006, 0, 0, 0x7fff0000}
}

func ExampleRun() {
	prog, err := bpfasm.ParseText("ld [0]\njeq #39 jt +0 jf +1\nret ERRNO(1)\nret ALLOW")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, nr := range []int32{39, 40} {
		ret, err := bpfasm.Run(prog, bpfasm.SeccompData{Nr: nr}.Marshal())
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(nr, bpfasm.Action(ret))
	}
	// Output:
	// 39 ERRNO(1)
	// 40 ALLOW
}

func ExampleOptimize() {
	prog, err := bpfasm.ParseText(`
		ld [0]
		jeq #1 jt 2 jf 3
		ja 6
		ld [0]
		jeq #2 jt 5 jf 7
		ret ERRNO(1)
		ret ERRNO(1)
		ret ALLOW`)
	if err != nil {
		fmt.Println(err)
		return
	}
	opt, err := bpfasm.Optimize(prog)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(bpfasm.Program(opt))
	// Output:
	//    0: ld [0]                   ; nr
	//    1: jeq #1 jt 3 jf 2
	//    2: jeq #2 jt 3 jf 4
	//    3: ret ERRNO(1)
	//    4: ret ALLOW
}
