/** Hello world in every language of the table, and programs that fail to compile, for the language tests. */
export const HELLO: Readonly<Record<string, string>> = {
  python: 'print("hello")',
  javascript: 'console.log("hello")',
  typescript: 'const greeting: string = "hello";\nconsole.log(greeting);',
  bash: 'echo hello',
  c: '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n',
  cpp: '#include <iostream>\nint main() { std::cout << "hello" << std::endl; }\n',
  go: 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hello") }\n',
  rust: 'fn main() { println!("hello"); }\n',
  java: 'public class Main { public static void main(String[] args) { System.out.println("hello"); } }\n',
  ruby: 'puts "hello"',
  php: '<?php echo "hello\\n";',
  lua: 'print("hello")',
};

/** Each with a fragment the compiler's message must contain. */
export const COMPILE_ERRORS: Readonly<Record<string, { code: string; message: string }>> = {
  c: { code: 'int main(void) { return undefined_name; }\n', message: 'undefined_name' },
  java: { code: 'public class Main { void f() { int x = "s"; } }\n', message: 'incompatible types' },
  rust: { code: 'fn main() { let x: i32 = "s"; }\n', message: 'mismatched types' },
};

/** Reads numbers, prints their sum: a grader's usual first program. */
export const SUM_PY = 'import sys\nprint(sum(int(x) for x in sys.stdin.read().split()))\n';
