// Stylesheets imported by the page: esbuild bundles them into app.css.
declare module "*.css";
