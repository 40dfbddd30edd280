#include <cstdio>
int main() { std::puts("portico: skeleton"); return 0; }
