// vite's `?url` imports: the URL of the asset in the page build.
declare module '*?url' {
  const url: string;
  export default url;
}
