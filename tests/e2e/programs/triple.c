/* An executable job's program: 3 * v + 1 for each signed 64-bit block, named pipes -i/-o. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *tag = "?";
    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "-i")) in = argv[++i];
        else if (!strcmp(argv[i], "-o")) out = argv[++i];
        else if (!strcmp(argv[i], "--tag")) tag = argv[++i];
    }
    if (!in || !out) { fprintf(stderr, "usage: triple -i IN -o OUT\n"); return 2; }
    FILE *source = fopen(in, "rb");
    FILE *target = fopen(out, "wb");
    if (!source || !target) { perror("triple: fopen"); return 2; }
    int64_t value;
    long blocks = 0;
    while (fread(&value, sizeof value, 1, source) == 1) {
        value = 3 * value + 1;
        fwrite(&value, sizeof value, 1, target);
        fflush(target);
        blocks++;
    }
    printf("%s: %ld blocks\n", tag, blocks);
    fprintf(stderr, "%s: input ended\n", tag);
    return 0;
}
