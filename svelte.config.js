// Svelte 5 compiles TypeScript in <script lang="ts"> itself; nothing to preprocess.
export default {};
