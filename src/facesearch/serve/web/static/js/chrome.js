// The app's chrome on a narrow screen: the "Menu" button opens and closes the navigation and
// the signed-in user's box (CSS hides them behind it below 700 px; above, the button is not
// shown). The button shows only once there is a menu (signed in); a new page closes the menu.
const bar = document.querySelector(".topbar");
const toggle = document.getElementById("menu-toggle");
const nav = document.getElementById("nav");

function setOpen(open) {
  bar.classList.toggle("menu-open", open);
  toggle.setAttribute("aria-expanded", String(open));
}

toggle.addEventListener("click", () => setOpen(toggle.getAttribute("aria-expanded") !== "true"));
bar.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && bar.classList.contains("menu-open")) {
    setOpen(false);
    toggle.focus();
  }
});
window.addEventListener("hashchange", () => setOpen(false));
const showToggle = () => {
  toggle.hidden = nav.childElementCount === 0;
};
new MutationObserver(showToggle).observe(nav, { childList: true });
showToggle();
