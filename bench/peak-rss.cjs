// Preloaded into a benchmarked child (`node --require bench/peak-rss.cjs …`): at exit, writes the
// process's own peak resident set size to stderr as `peak-rss-kb N` (maxRSS is in kilobytes).
process.on('exit', () => process.stderr.write(`\npeak-rss-kb ${process.resourceUsage().maxRSS}\n`));
