/**
 * The import rules of the tree, checked by `npm test` (dependency-cruiser). docs/architecture.md
 * says what each folder owns; these are the parts of it a tool can hold.
 */
const CORE = '^(src/(domain|commands|queries|processes|http|auth|ports|lib)|actors|projections)/';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle makes load order matter and hides which module owns what.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-uses-web-standards',
      severity: 'error',
      comment: 'The core runs on Node, Bun and Deno: runtime modules only in adapters and entries.',
      from: { path: CORE },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'core-imports-no-adapter',
      severity: 'error',
      comment: 'The core sees ports; adapters are chosen by a composition root.',
      from: { path: CORE },
      to: { path: '^(src/adapters|src/entry|worker)/' },
    },
    {
      name: 'domain-looks-down-only',
      severity: 'error',
      comment: 'Deciders are pure: the domain imports the ports and the lifecycle machine, nothing that does I/O or serves.',
      from: { path: '^src/domain/' },
      to: { path: '^(src/(commands|queries|processes|http|auth)|projections)/' },
    },
    {
      name: 'entries-are-leaves',
      severity: 'error',
      comment: 'An entry point is where a process starts (the command line is one): nothing imports it but another entry.',
      from: { pathNot: '^src/(entry|cli)/' },
      to: { path: '^src/entry/' },
    },
    {
      name: 'roots-are-imported-by-entries',
      severity: 'error',
      comment: 'A composition root wires its part together; what it wires never reaches back up to it.',
      from: { pathNot: '^src/entry/' },
      to: { path: '^(src/api|worker/start)\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: '^node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(test|bench)/' },
  },
};
