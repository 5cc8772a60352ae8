/* What MSVC's static C runtime (msvcrt.lib, which link.exe adds) gives objects compiled by clang-cl, for linking
 * them with mingw-w64 in tests/test_windows_build.py: the /GS stack cookie, the floating-point marker, and
 * __chkstk, the stack probe of frames over a page (mingw's libgcc has it as ___chkstk_ms, same contract). */
#include <stdint.h>
#include <stdlib.h>

uintptr_t __security_cookie = 0x2B992DDFA232ULL;
void __security_check_cookie(uintptr_t cookie) {
    if (cookie != __security_cookie) abort();
}
int _fltused = 0;
__asm__(".globl __chkstk\n__chkstk:\n    jmp ___chkstk_ms\n");
