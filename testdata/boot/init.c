/* A static /init for boot tests: print a marker on the console, then reboot,
 * which makes QEMU (-no-reboot) exit. /dev/console comes from the kernel's
 * built-in initramfs. */
#include <fcntl.h>
#include <string.h>
#include <sys/reboot.h>
#include <unistd.h>

int main(void)
{
	const char *marker = "KFORGE-BOOT-OK: init is running\n";
	int fd = open("/dev/console", O_WRONLY);
	if (fd < 0)
		fd = 1;
	write(fd, marker, strlen(marker));
	sync();
	reboot(RB_AUTOBOOT);
	return 0;
}
